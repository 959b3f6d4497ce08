package vocab

import "testing"

func TestSpellingsRenderOptionsInEachVocabulary(t *testing.T) {
	keys := Keys{Names: map[Option]string{"allow-dirty": "allowDirty", "out-dir": "outDir", "verify-key": "verifyKeys", Env("PKCS11_PIN"): "pinCredentialsId"},
		Given: map[Option]any{"out-dir": "dist/sigs", Env("PKCS11_PIN"): "hsm-pin"}}
	cases := []struct {
		name string
		sp   Spelling
		o    Option
		v    any
		want string
	}{
		{"a flag set to true is bare", nil, "allow-dirty", true, "--allow-dirty"},
		{"a flag set to false", Flags{}, "allow-dirty", false, "--allow-dirty=false"},
		{"a flag with a plain value", nil, "out-dir", "dist/sigs", "--out-dir dist/sigs"},
		{"a flag with a value a shell would split", nil, "out-dir", "my sigs's", `--out-dir 'my sigs'\''s'`},
		{"a repeated flag", nil, "verify-key", []string{"a.pub", "b.pub"}, "--verify-key a.pub --verify-key b.pub"},
		{"a flag named alone", nil, "out-dir", nil, "--out-dir"},
		{"a secret's env var on the command line", nil, Env("PKCS11_PIN"), nil, "$PKCS11_PIN"},
		{"a key set to true", keys, "allow-dirty", true, "allowDirty: true"},
		{"a key with a string", keys, "out-dir", "out", "outDir: 'out'"},
		{"a key named alone shows the Jenkinsfile's value", keys, "out-dir", nil, "outDir: 'dist/sigs'"},
		{"a key with a list", keys, "verify-key", []string{"a.pub", "it's.pub"}, `verifyKeys: ['a.pub', 'it\'s.pub']`},
		{"a key the Jenkinsfile left out", keys, "allow-dirty", nil, "allowDirty"},
		{"a credential key names its id", keys, Env("PKCS11_PIN"), nil, "pinCredentialsId: 'hsm-pin'"},
		{"an unmapped option keeps its neutral name", keys, "grace", 5, "grace: 5"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := Say(c.sp, c.o, c.v); got != c.want {
				t.Fatalf("got %q, want %q", got, c.want)
			}
		})
	}
	if got := Groovy(map[string]string{"b": "2", "a": "1"}); got != "[a: '1', b: '2']" {
		t.Fatalf("map: %q", got)
	}
}
