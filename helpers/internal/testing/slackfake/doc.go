// Package slackfake is an in-process Slack Web API, for tests and the demo only, at least as strict as Slack for
// the calls the relay makes (chat.postMessage, chat.update, chat.postEphemeral and response_url posts).
//
// Each rule and its source:
//   - A token is required, as "Authorization: Bearer" or the token form field: none is not_authed, another one is
//     invalid_auth (https://api.slack.com/methods/chat.postMessage, "Errors"; https://api.slack.com/web#authentication).
//   - channel must name a channel the bot is in: channel_not_found otherwise (chat.postMessage, chat.update errors).
//   - chat.update needs the ts of a message the bot posted in that channel: message_not_found otherwise
//     (https://api.slack.com/methods/chat.update: "No message exists with the requested timestamp").
//   - A message needs text or blocks (no_text); text is at most 40,000 characters (msg_too_long): chat.postMessage,
//     "Truncating content" and "Errors". Slack truncates there; the fake refuses, which is stricter.
//   - At most 50 blocks a message (https://api.slack.com/reference/block-kit/blocks: "up to 50 blocks in each
//     message"); block_id at most 255 characters and unique within the message (same page, "block_id").
//   - header: plain_text only, text at most 150 characters (https://api.slack.com/reference/block-kit/blocks#header).
//   - section: text at most 3,000 characters, at most 10 fields of at most 2,000 characters each, text or fields
//     required (https://api.slack.com/reference/block-kit/blocks#section).
//   - actions: 1 to 25 elements (https://api.slack.com/reference/block-kit/blocks#actions); context: at most 10
//     (https://api.slack.com/reference/block-kit/blocks#context).
//   - button: plain_text text of at most 75 characters, action_id at most 255 and unique within its block, value at
//     most 2,000, url at most 3,000, style only primary or danger
//     (https://api.slack.com/reference/block-kit/block-elements#button).
//   - text objects: type plain_text or mrkdwn, text non-empty (https://api.slack.com/reference/block-kit/composition-objects#text).
//     Any violation of the Block Kit rules is invalid_blocks, as Slack answers.
//   - Rate limits answer HTTP 429 with a Retry-After header in seconds and {"ok":false,"error":"ratelimited"}
//     (https://api.slack.com/docs/rate-limits, "Responding to rate limiting conditions"); Limit arms them on a call count.
//   - A response_url takes a JSON body and at most five posts (https://api.slack.com/interactivity/handling,
//     "Message responses": "up to 5 times within 30 minutes"); a sixth is refused with 404.
//
// Characters are counted as Unicode code points, as Slack does.
package slackfake
