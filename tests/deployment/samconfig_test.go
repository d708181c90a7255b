package deployment

import (
	"regexp"
	"slices"
	"testing"
)

// samconfig.toml as shipped cannot deploy a stack: JwtIssuer and JwtAudience
// get a value neither from the template nor from samconfig, so CloudFormation
// refuses the stack ("Parameters: [JwtIssuer, JwtAudience] must have values")
// until the user gives theirs, instead of deploying one that answers 401 to
// every token. Pressing Enter at the guided prompt does not help either: it
// gives "", which their patterns refuse.
func TestSamconfigLeavesIssuerAndAudienceUnset(t *testing.T) {
	cfg := readSamconfig(t)
	params := at(expand(t), "Parameters").(map[string]any)
	for _, section := range []string{"deploy", "sync"} {
		t.Run(section, func(t *testing.T) {
			raw, _ := at(cfg, "default", section, "parameters", "parameter_overrides").(string)
			overrides := parameterOverrides(raw)
			// What CloudFormation would be left without: no Default, no override.
			var unset []string
			for name, p := range params {
				if _, ok := p.(map[string]any)["Default"]; ok {
					continue
				}
				if _, ok := overrides[name]; !ok {
					unset = append(unset, name)
				}
			}
			slices.Sort(unset)
			if want := []string{"JwtAudience", "JwtIssuer"}; !slices.Equal(unset, want) {
				t.Errorf("parameters without a value = %v, want exactly %v", unset, want)
			}
			for _, name := range []string{"JwtIssuer", "JwtAudience"} {
				pattern, _ := at(params, name, "AllowedPattern").(string)
				if pattern == "" || regexp.MustCompile(pattern).MatchString("") {
					t.Errorf("%s accepts an empty value (pattern %q): the guided prompt's empty default would deploy", name, pattern)
				}
			}
		})
	}
}
