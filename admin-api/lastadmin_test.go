package adminapi

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/trackstream/trackstream/internal/testkit"
)

// enabledAdminsOn counts the enabled admins a replica lists.
func (e *env) enabledAdminsOn(token string) int {
	e.t.Helper()
	body := e.mustCall(http.StatusOK, "GET", "/api/v1/users", token, "")
	n := 0
	for _, u := range body["users"].([]any) {
		m := u.(map[string]any)
		if m["role"] == "admin" && m["disabled"] == false {
			n++
		}
	}
	return n
}

// raceAdmins disables adm2 through a and demotes admin through b at the
// same time, each change authorised by the other admin, and returns both
// statuses.
func raceAdmins(a, b *env, adminTok, adm2Tok string) (int, int) {
	var wg sync.WaitGroup
	var c1, c2 int
	wg.Add(2)
	go func() {
		defer wg.Done()
		c1 = a.call("PATCH", "/api/v1/users/adm2", adminTok, `{"disabled":true}`).code
	}()
	go func() {
		defer wg.Done()
		c2 = b.call("PATCH", "/api/v1/users/admin", adm2Tok, `{"role":"viewer"}`).code
	}()
	wg.Wait()
	return c1, c2
}

// Two concurrent changes that together would leave no enabled admin (the
// probe's race: disable one admin while the other is demoted) never both
// succeed, on one replica or across two.
func TestLastAdminGuardHoldsUnderConcurrentChanges(t *testing.T) {
	c := newCluster(t)
	cfg := testConfig()
	e := start(t, c, cfg, nil)
	other := start(t, c, cfg, e.clock)
	admin := e.login("admin", strong)
	e.mustCall(http.StatusCreated, "POST", "/api/v1/users", admin, `{"name":"adm2","role":"admin","password":"`+strong+`-x"}`)

	for round := range 6 {
		a, b := e, e
		if round%2 == 1 {
			b = other // the two changes on two replicas
		}
		testkit.Eventually(t, 10*time.Second, "both replicas to see adm2", func() bool {
			_, ok := other.srv.st.user("adm2")
			return ok
		})
		adminTok, adm2Tok := a.login("admin", strong), b.login("adm2", strong+"-x")
		c1, c2 := raceAdmins(a, b, adminTok, adm2Tok)
		if c1 == http.StatusOK && c2 == http.StatusOK {
			t.Fatalf("round %d: both changes succeeded", round)
		}
		// Let both replicas converge, then count from each.
		var admins [2]int
		testkit.Eventually(t, 10*time.Second, "the replicas to agree", func() bool {
			ea, _ := e.srv.st.user("admin")
			oa, _ := other.srv.st.user("admin")
			e2, _ := e.srv.st.user("adm2")
			o2, _ := other.srv.st.user("adm2")
			return ea == oa && e2 == o2
		})
		admins[0], admins[1] = e.srv.st.enabledAdmins(), other.srv.st.enabledAdmins()
		if admins[0] < 1 || admins[1] < 1 {
			t.Fatalf("round %d (statuses %d, %d): enabled admins %v, want at least one", round, c1, c2, admins)
		}
		// Restore both admins for the next round through whichever is
		// still an enabled admin.
		restorer := "admin"
		if u, _ := e.srv.st.user("admin"); u.Role != RoleAdmin || u.Disabled {
			restorer = "adm2"
		}
		pw := strong
		if restorer == "adm2" {
			pw = strong + "-x"
		}
		tok := e.login(restorer, pw)
		e.mustCall(http.StatusOK, "PATCH", "/api/v1/users/admin", tok, `{"role":"admin","disabled":false}`)
		e.mustCall(http.StatusOK, "PATCH", "/api/v1/users/adm2", tok, `{"role":"admin","disabled":false}`)
		e.clock.add(time.Second)
	}
}

// TRACKSTREAM_ADMIN_PASSWORD is the documented recovery path: a restart
// with it makes the built-in admin an enabled admin again, whether the
// password is the same or new.
func TestBootstrapRestoresTheAdmin(t *testing.T) {
	c := newCluster(t)
	cfg := testConfig()
	e := start(t, c, cfg, nil)
	for _, broken := range []User{
		{Name: AdminUser, Role: RoleViewer},
		{Name: AdminUser, Role: RoleAdmin, Disabled: true},
	} {
		u, _ := e.srv.st.user(AdminUser)
		u.Role, u.Disabled = broken.Role, broken.Disabled
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		if err := e.srv.st.put(ctx, userKey+AdminUser, u); err != nil {
			t.Fatal(err)
		}
		cancel()
		restarted := start(t, c, cfg, e.clock) // bootstraps with the same password
		r := restarted.call("POST", "/api/v1/auth/login", "", `{"username":"admin","password":"`+strong+`"}`)
		if r.code != http.StatusOK || r.body["role"] != "admin" {
			t.Fatalf("admin %+v, after a restart with the password: login %d %s, want 200 as admin", broken, r.code, r.raw)
		}
		testkit.Eventually(t, 10*time.Second, "the first replica to see the restored admin", func() bool {
			u, _ := e.srv.st.user(AdminUser)
			return u.Role == RoleAdmin && !u.Disabled
		})
	}
}
