-- Who is told when sendout gives up on a target (issue 18): the project's
-- `webhooks_callout_notifications`, in the Management API's shape, as JSON text:
-- {"webhooks": {"email", "emails", "in_app"}, "distributions": {"email", "emails", "in_app"}}.
--
-- Upgrading in place: a new nullable column; NULL (every project stored so far) reads as the
-- documented default (no email, in-app notices on). Nothing stored is rewritten.

ALTER TABLE projects ADD COLUMN callout_notifications TEXT;
