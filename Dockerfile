FROM python:3.11-slim
WORKDIR /srv/arena
COPY pyproject.toml README.md ./
COPY app ./app
COPY workers ./workers
COPY migrations ./migrations
COPY templates ./templates
COPY static ./static
# CPU torch wheels keep the image small; use a CUDA base image and wheels for GPU workers.
RUN pip install --no-cache-dir --index-url https://download.pytorch.org/whl/cpu torch torchvision \
    && pip install --no-cache-dir -e ".[worker]"
EXPOSE 8000
CMD ["arena", "serve", "--host", "0.0.0.0", "--port", "8000"]
