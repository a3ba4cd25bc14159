package realtime

import "testing"

func TestOriginPolicy(t *testing.T) {
	t.Parallel()
	cases := []struct {
		origins    []string
		production bool
		origin     string
		want       bool
	}{
		{nil, false, "https://anything.example", true}, // development default: any
		{nil, true, "https://evil.example", false},     // production default: same origin only
		{nil, true, "https://api.example:8443", true},  // same origin
		{nil, true, "", true},                          // no Origin: not a browser
		{[]string{"https://app.example"}, true, "https://APP.example", true},
		{[]string{"https://app.example/"}, true, "https://app.example", true},
		{[]string{"https://app.example"}, false, "http://app.example", false}, // scheme matters
		{[]string{"https://app.example"}, false, "https://evil.example", false},
		{[]string{"*"}, true, "https://evil.example", true}, // explicit *
	}
	for _, tc := range cases {
		p := newOriginPolicy(tc.origins, tc.production)
		if got := p.allows(tc.origin, "api.example:8443"); got != tc.want {
			t.Errorf("origins %v production %v: %q allowed=%v, want %v", tc.origins, tc.production, tc.origin, got, tc.want)
		}
	}
}
