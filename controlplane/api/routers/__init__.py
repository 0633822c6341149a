"""One router per area of the admin API; each only translates HTTP to a store or service call."""
