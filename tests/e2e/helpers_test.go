package e2e_test

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/tipbox/tipbox/internal/e2e"
)

// createUser creates a user through the API as an admin and returns its id.
func createUser(t *testing.T, base, admin, name string) int64 {
	t.Helper()
	r := e2e.Do(t, "POST", base+"/api/v1/users", admin,
		fmt.Sprintf(`{"username":%q,"email":"%s@example.com"}`, name, name))
	if r.Status != 201 {
		t.Fatalf("create %s: %d %s", name, r.Status, r.Body)
	}
	var u struct {
		ID int64 `json:"id"`
	}
	if err := json.Unmarshal(r.Body, &u); err != nil {
		t.Fatal(err)
	}
	return u.ID
}

func profileURL(base string, id int64) string {
	return fmt.Sprintf("%s/api/v1/users/%d/profile", base, id)
}

func field(t *testing.T, body []byte, name string) any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatalf("decode %s: %v", body, err)
	}
	return m[name]
}
