package rbac

import (
	"bytes"
	"fmt"

	"gopkg.in/yaml.v3"
)

// jcascEntry is one role assignment in the Role Strategy plugin's JCasC schema.
type jcascEntry struct {
	User  string `yaml:"user,omitempty"`
	Group string `yaml:"group,omitempty"`
}

type jcascRole struct {
	Name        string       `yaml:"name"`
	Description string       `yaml:"description,omitempty"`
	Pattern     string       `yaml:"pattern,omitempty"`
	Permissions []string     `yaml:"permissions"`
	Entries     []jcascEntry `yaml:"entries"`
}

type jcascDoc struct {
	Jenkins struct {
		AuthorizationStrategy struct {
			RoleBased struct {
				Roles struct {
					Global []jcascRole `yaml:"global,omitempty"`
					Items  []jcascRole `yaml:"items,omitempty"`
				} `yaml:"roles"`
			} `yaml:"roleBased"`
		} `yaml:"authorizationStrategy"`
	} `yaml:"jenkins"`
}

// RenderJCasC returns the Role Strategy plugin's JCasC YAML (jenkins.authorizationStrategy.roleBased) for c's roles.
func (c *Config) RenderJCasC() ([]byte, error) {
	var doc jcascDoc
	roles := &doc.Jenkins.AuthorizationStrategy.RoleBased.Roles
	for _, r := range c.Roles {
		jr := jcascRole{Name: r.Name, Description: r.Description, Pattern: r.Pattern, Permissions: r.Permissions}
		for _, u := range r.Members.Users {
			jr.Entries = append(jr.Entries, jcascEntry{User: u})
		}
		for _, g := range r.Members.Groups {
			jr.Entries = append(jr.Entries, jcascEntry{Group: g})
		}
		if r.Global {
			roles.Global = append(roles.Global, jr)
		} else {
			roles.Items = append(roles.Items, jr)
		}
	}
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(doc); err != nil {
		return nil, fmt.Errorf("encoding JCasC: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
