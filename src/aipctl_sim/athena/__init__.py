"""Amazon Athena queries, executed by DuckDB over the emulated S3 (moto's Athena runs nothing)."""
