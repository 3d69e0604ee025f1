-- Header redaction decided by the target (issue 16 item 7): every custom header value is a
-- secret to the audit log unless its webhook names the header in `public_headers`, a JSON
-- array of lowercase header names. The audit log reads it from the webhook as it is when the
-- log is read, so send outs are not changed; a deleted webhook's send outs show every value
-- redacted. (A distribution channel's list lives in the channel, inside the `spec` JSON, where
-- a channel stored before it reads as having none.)
--
-- Upgrading in place: a new column, `[]` for every webhook stored so far, so all their values
-- show redacted (before, only those whose names looked like credentials did) until a webhook
-- marks some public. Nothing stored is rewritten.

ALTER TABLE webhooks ADD COLUMN public_headers TEXT NOT NULL DEFAULT '[]';
