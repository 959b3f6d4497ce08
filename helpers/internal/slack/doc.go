// Package slack builds the approval Block Kit message and posts, updates and escalates it over Slack's Web API.
package slack
