"""What is evaluated: generators, prompt sets, reference sets, uploaded images and their renditions."""
