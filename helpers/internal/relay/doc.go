// Package relay turns Slack button clicks into answers to waiting Jenkins input steps.
//
// Protocol references:
//   - Slack request signing (api.slack.com/authentication/verifying-requests-from-slack): the base string is
//     "v0:<X-Slack-Request-Timestamp>:<raw body>", HMAC-SHA256 with the app's signing secret, hex-encoded, sent as
//     "X-Slack-Signature: v0=<hex>". Requests whose timestamp is more than 5 minutes off are refused (401).
//   - Interactivity payload (api.slack.com/reference/interaction-payloads/block-actions): the form field
//     "payload" holds JSON of type "block_actions" with user.id, team.id, channel.id, container.message_ts,
//     actions[].action_id/value/action_ts and response_url. Slack wants a 200 within 3 seconds, so the relay
//     acknowledges first and calls Jenkins from a bounded worker pool, then answers through response_url
//     with {"replace_original":false,"text":...}.
//   - Socket Mode (api.slack.com/apis/connections/socket): apps.connections.open with the app-level token
//     returns a WebSocket URL; each envelope {"type":"interactive","envelope_id":..,"payload":..} is acked by
//     sending {"envelope_id":..} back.
//   - Jenkins input step REST: see package jenkins.
//
// Order of checks for a click: body cap (413), signature and timestamp (401), payload shape (400), button token
// (tampered or expired: denied), replay (per-replica LRU of signature and action_ts+user), RBAC (approver,
// four eyes, branch), then the Jenkins call. The first decision wins: once answered, the input is gone and
// Jenkins answers 404, which the relay reports as "already decided".
package relay
