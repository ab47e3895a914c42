"""One settings model for a store, read from the Fluss, Alluxio and Kafka Connect dialects."""
