// Package worker is the SDK a worker process links: attach to the segment
// the supervisor handed down, say ready after pre-warming, beat from the
// worker's own loop, and read the segment.
//
// A Go program hosts workers by name and re-executes itself to run one:
//
//	func init() {
//		worker.Register("resampler", func(ctx context.Context, w *worker.Worker) error {
//			warmUp()
//			w.Ready()
//			for ctx.Err() == nil {
//				work()
//				w.Beat()
//			}
//			return nil
//		})
//	}
//
//	func main() {
//		worker.Main() // first: when this process is a worker, runs it and exits
//		...
//	}
//
// Under go test the same call goes at the top of TestMain. A program that is
// not re-executed (any other binary started with Spec.SDK) calls Attach.
package worker
