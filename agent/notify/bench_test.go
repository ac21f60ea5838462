package notify

import "testing"

// BenchmarkNotify is what a transaction pays for notifications: building
// the message (redacting its free text) and queueing it, or counting the
// drop when the queue is full. No worker runs, so the queue stays full
// after the first QueueSize messages and the drop path dominates.
func BenchmarkNotify(b *testing.B) {
	out := reverted()
	for _, c := range []struct {
		name   string
		result string
	}{{"filtered", "applied"}, {"queued-or-dropped", "reverted"}} {
		b.Run(c.name, func(b *testing.B) {
			n, err := New(Options{URL: "http://127.0.0.1:1", QueueSize: 64})
			if err != nil {
				b.Fatal(err)
			}
			o := *out
			o.Result = c.result
			b.ReportAllocs()
			for b.Loop() {
				n.Notify(&o)
			}
		})
	}
}
