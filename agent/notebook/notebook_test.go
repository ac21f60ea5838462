package notebook

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"

	"github.com/tether-net/tether/agent"
	"github.com/tether-net/tether/agent/notes"
)

// TestRecordOncePerTransaction: a restarted agent that settles a transaction
// it had already recorded (killed between the note and the journal clear)
// adds no second attempt; a new transaction, or a new result of the same
// one, does.
func TestRecordOncePerTransaction(t *testing.T) {
	repo, err := git.PlainInit(filepath.Join(t.TempDir(), "r.git"), true)
	if err != nil {
		t.Fatal(err)
	}
	store, err := notes.New(notes.Config{Repo: repo, Site: "home"})
	if err != nil {
		t.Fatal(err)
	}
	g := &Git{Own: store}
	ctx := context.Background()
	commit := strings.Repeat("ab", 20)
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	out := func(txn, result string) *agent.Outcome {
		return &agent.Outcome{TxnID: txn, Site: "home", Commit: commit, Result: result, Started: at, Finished: at.Add(time.Minute)}
	}
	for _, o := range []*agent.Outcome{
		out("t1", agent.ResultApplied),
		out("t1", agent.ResultApplied), // the same transaction settled again after a restart
		out("t2", agent.ResultApplied), // the next transaction (a drift repair, say)
		out("t2", agent.ResultRevertFailed),
		out("t2", agent.ResultRecovered),
	} {
		if err := g.Record(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	n, err := store.Read(ctx, plumbing.NewHash(commit))
	if err != nil || n == nil {
		t.Fatalf("read: %v %v", n, err)
	}
	var got []string
	for _, a := range n.Attempts {
		got = append(got, a.Txn+":"+string(a.Result))
	}
	want := "t1:applied t2:applied t2:revert-failed t2:recovered"
	if strings.Join(got, " ") != want {
		t.Fatalf("attempts %v, want %s", got, want)
	}
}
