"""Platform operations: TLS materials, SES credentials and rule sets, exports, sync, backups."""
