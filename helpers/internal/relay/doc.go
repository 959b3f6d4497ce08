// Package relay is the approval authority: it takes approval requests from pipelines, counts Slack clicks
// against its own rbac.yaml, and answers the waiting Jenkins input once, with a signed decision.
//
// Protocol references:
//   - Slack request signing (api.slack.com/authentication/verifying-requests-from-slack): the base string is
//     "v0:<X-Slack-Request-Timestamp>:<raw body>", HMAC-SHA256 with the app's signing secret, hex-encoded, sent as
//     "X-Slack-Signature: v0=<hex>". Requests whose timestamp is more than 5 minutes off are refused (401).
//   - Interactivity payload (api.slack.com/reference/interaction-payloads/block-actions): the form field
//     "payload" holds JSON of type "block_actions" with user.id, actions[].action_id/value/action_ts and
//     response_url. Slack wants a 200 within 3 seconds; the relay acks after the click is committed.
//   - Socket Mode (api.slack.com/apis/connections/socket): each envelope is acked with its envelope_id, here
//     only after the click is stored.
//   - Jenkins: see package jenkins; an input is answered only once wfapi/pendingInputActions lists it.
//
// A click: body cap (413), signature (401), payload (400), request known, open and not past its deadline,
// clicker an approver of the request's rule snapshot and not a requester (four eyes), then one transaction
// stores it (unique per approver and per Slack event) and, at the quorum or the first reject, closes the
// request and queues the signed decision in the outbox. The database failing answers 503: nothing is acked
// that is not stored.
//
// Durability: the ack follows the commit. Clicks arriving together share one transaction (store's group commit).
// PostgreSQL keeps synchronous_commit=on; SQLite defaults to synchronous=FULL (an fsync per commit), and
// sqlite:PATH?synchronous=normal skips that fsync: an acked click then survives a SIGKILL of the relay (the WAL is
// written before the commit returns) but not a power loss or a kernel crash.
package relay
