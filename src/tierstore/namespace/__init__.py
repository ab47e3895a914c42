"""The namespace: S3 and local locations mounted into one tree of paths, with permissions."""
