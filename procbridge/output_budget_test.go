package procbridge

import "testing"

// FuzzLinesBudget: whatever sizes of lines a worker writes and however its
// reader keeps up, the bytes queued never exceed the budget, the queue's
// count is exactly the bytes in the channel.
func FuzzLinesBudget(f *testing.F) {
	f.Add([]byte{255, 255, 255, 0, 1, 2}, []byte{0, 0, 3, 0, 200})
	f.Add([]byte{1, 1, 1, 1}, []byte{1, 1, 1, 1})
	f.Fuzz(func(t *testing.T, sizes, reads []byte) {
		var q outputQueue
		ch := make(chan Line, lineQueue)
		inChannel := func() int {
			n := 0
			for range len(ch) {
				l := <-ch
				n += len(l.Text) + 1
				ch <- l
			}
			return n
		}
		sent := 0 // bytes sent and not read
		for i, s := range sizes {
			// A size byte s stands for s·(outputBudget/64) bytes, newline
			// included; a few lines fill the budget.
			b := make([]byte, int(s)*(outputBudget/64)+1)
			b[len(b)-1] = '\n'
			if q.sendLine(ch, b, 1, false) {
				sent += len(b)
			}
			if i < len(reads) {
				for range min(int(reads[i]), len(ch)) {
					l := <-ch
					sent -= len(l.Text) + 1
				}
			}
			// What sendLine counts before its next send.
			q.mu.Lock()
			for taken := q.sent - uint64(len(ch)); q.counted < taken; q.counted++ {
				q.queued -= q.sizes[q.counted%lineQueue]
			}
			queued := q.queued
			q.mu.Unlock()
			if queued > outputBudget {
				t.Fatalf("%d bytes queued, budget %d", queued, outputBudget)
			}
			if got := inChannel(); got != queued || got != sent {
				t.Fatalf("queued %d, in the channel %d, sent and not read %d", queued, got, sent)
			}
		}
	})
}
