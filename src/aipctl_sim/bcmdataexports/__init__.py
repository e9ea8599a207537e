"""AWS Data Exports (bcm-data-exports): CUR 2.0 exports, delivered as Parquet (or gzip CSV) files to S3."""
