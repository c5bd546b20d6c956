"""A clinic's referral intake on opsfn: its own routes beside the built-in ones."""
