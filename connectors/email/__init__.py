"""E-mail: a mailbox read over IMAP (IDLE or polling), answered over SMTP."""
