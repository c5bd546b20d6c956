"""Settings sections, one module per domain; ``opsfn.settings.Settings`` joins them."""
