"""The S3 backend: obstore for data, botocore for control calls."""
