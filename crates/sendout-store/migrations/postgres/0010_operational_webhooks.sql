-- Operational webhooks (issue 18 item 4): events about sendout's own targets
-- (sendout.webhook.disabled, …) delivered to an operator's and a project's URL.
--
-- A project's own operational URL (`operational_webhook_url`, NULL: none). Every notice is
-- also the outbox of its operational event: written `pending` in the transaction of the state
-- change it reports, then turned into send outs (one per configured URL) and marked `emitted`
-- in one transaction, so each event is made once whatever crashes. Notices of kind
-- `send_out.exhausted` (never shown in-app, never mailed) exist only for this.
--
-- Upgrading in place: new nullable columns. Projects stored so far have no operational URL;
-- notices stored so far read `operational_state` NULL (they happened before there were
-- operational webhooks, and are not sent out now). Nothing stored is rewritten.

ALTER TABLE projects ADD COLUMN operational_webhook_url TEXT;
ALTER TABLE notices ADD COLUMN operational_state TEXT;  -- pending | emitted; NULL: none
CREATE INDEX notices_operational_pending ON notices (id) WHERE operational_state = 'pending';
