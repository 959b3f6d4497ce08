package relay

import (
	"testing"

	"github.com/slack-go/slack"
)

func TestParsePayloadReadsWhatSlacksFullDecoderReads(t *testing.T) {
	b := []byte(`{"type":"block_actions","action_ts":"9.9","response_url":"https://hooks.slack.com/actions/T1/1/x","user":{"id":"U02BOB","name":"bob"},
		"team":{"id":"T1"},"channel":{"id":"C0DEPLOY"},"container":{"type":"message","message_ts":"1700000000.000001","channel_id":"C0DEPLOY"},
		"message":{"ts":"1700000000.000001","text":"x"},"actions":[{"type":"button","block_id":"rg_decision","action_id":"rg_approve","value":"abc","action_ts":"1.2"}]}`)
	var full slack.InteractionCallback
	if err := full.UnmarshalJSON(b); err != nil {
		t.Fatal(err)
	}
	lean, err := ParsePayload(b)
	if err != nil {
		t.Fatal(err)
	}
	a, fa := lean.ActionCallback.BlockActions, full.ActionCallback.BlockActions
	if lean.Type != full.Type || lean.User.ID != full.User.ID || lean.Team.ID != full.Team.ID || lean.Channel.ID != full.Channel.ID ||
		lean.Container.MessageTs != full.Container.MessageTs || lean.Container.ChannelID != full.Container.ChannelID ||
		lean.ResponseURL != full.ResponseURL || lean.ActionTs != full.ActionTs || len(a) != 1 || len(fa) != 1 ||
		a[0].ActionID != fa[0].ActionID || a[0].Value != fa[0].Value || a[0].ActionTs != fa[0].ActionTs || a[0].BlockID != fa[0].BlockID {
		t.Fatalf("lean %+v\nfull %+v", lean, full)
	}
}
