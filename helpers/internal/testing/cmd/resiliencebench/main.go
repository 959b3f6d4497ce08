// Command resilience measures the release success rate of cosign signing through a fault proxy, with the
// helpers' retries and breakers and with retries disabled, the extra time retries cost, and how fast an open
// breaker stops a batch when the registry is down. It prints | case | ours | peer | ratio | target | rows.
package main

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	ggcr "github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/release-gates/release-gates/helpers/internal/breaker"
	"github.com/release-gates/release-gates/helpers/internal/image"
	"github.com/release-gates/release-gates/helpers/internal/registry"
	"github.com/release-gates/release-gates/helpers/internal/result"
	"github.com/release-gates/release-gates/helpers/internal/retry"
	"github.com/release-gates/release-gates/helpers/internal/testing/faultproxy"
)

var (
	n         = flag.Int("n", 500, "simulated releases per run")
	artifacts = flag.Int("artifacts", 5, "signatures pushed per release")
	rate      = flag.Float64("rate", 0.05, "share of requests that fail transiently")
	workers   = flag.Int("workers", 8, "releases in flight")
	seed      = flag.Int64("seed", 42, "fault sequence seed")
	downN     = flag.Int("down-releases", 16, "releases in the registry-down batch")
	cleanN    = flag.Int("clean", 0, "releases in the fault-free reference run (default n/5, at least 50)")
	target    = flag.Float64("target", 99.6, "required release success rate, percent")
)

// faults are the transient failures injected: refusals before acting, and a reply lost after acting.
var faults = []faultproxy.Fault{faultproxy.Unavailable, faultproxy.TooMany, faultproxy.Reset, faultproxy.Truncated, faultproxy.LostReply}

func main() {
	flag.Parse()
	log.SetFlags(0)
	if err := run(); err != nil {
		log.Fatal("resilience bench: ", err)
	}
}

type bench struct {
	srv   *httptest.Server
	proxy *faultproxy.Proxy
	key   crypto.Signer
	state string
}

// resilient is the production stack: per-request retries around a per-host breaker, operation retries above.
func (b *bench) resilient(set *breaker.Set, retries *atomic.Int64) *registry.Client {
	p := retry.RequestDefault
	p.OnRetry = func(int, time.Duration, error) { retries.Add(1) }
	return registry.New(registry.Options{PlainHTTP: true, Attempts: retry.Default.Tries, Backoff: retry.Default.Initial,
		Transport: breaker.Stack(transport(), set, p)})
}

// bare has every retry off: one attempt per operation, no per-request retries, no breaker.
func (b *bench) bare() *registry.Client {
	return registry.New(registry.Options{PlainHTTP: true, Attempts: 1, Transport: transport()})
}

// unbroken retries like resilient but has no breaker: what a registry outage costs without one.
func (b *bench) unbroken() *registry.Client {
	return registry.New(registry.Options{PlainHTTP: true, Attempts: retry.Default.Tries, Backoff: retry.Default.Initial,
		Transport: &retry.Transport{Next: transport(), Policy: retry.RequestDefault, Idempotent: retry.RegistryIdempotent}})
}

func transport() http.RoundTripper {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = 64
	return t
}

type runStats struct {
	ok, failed   int
	sigOK, sigNo int
	durations    []time.Duration // successful releases
	wall         time.Duration
	classes      map[result.Class]int
}

// releases pushes n*artifacts images straight to the registry and returns their digests seen through the proxy.
func (b *bench) releases(prefix string, count int) ([][]registry.Target, error) {
	direct := registry.New(registry.Options{PlainHTTP: true, Transport: transport()})
	base, err := random.Image(256, 1)
	if err != nil {
		return nil, err
	}
	out := make([][]registry.Target, count)
	host := strings.TrimPrefix(b.srv.URL, "http://")
	var wg sync.WaitGroup
	var firstErr atomic.Value
	sem := make(chan struct{}, *workers)
	for r := 0; r < count; r++ {
		out[r] = make([]registry.Target, *artifacts)
		for a := 0; a < *artifacts; a++ {
			wg.Add(1)
			sem <- struct{}{}
			go func(r, a int) {
				defer func() { <-sem; wg.Done() }()
				img, err := mutate.Config(base, v1.Config{Labels: map[string]string{"release": prefix, "r": fmt.Sprint(r), "a": fmt.Sprint(a)}})
				if err != nil {
					firstErr.Store(err)
					return
				}
				repo := fmt.Sprintf("%s/r%d/a%d", prefix, r, a)
				ref, _ := name.ParseReference(host+"/"+repo+":v1", name.Insecure)
				if err := remote.Write(ref, img, direct.RemoteOptions(context.Background())...); err != nil {
					firstErr.Store(err)
					return
				}
				d, _ := img.Digest()
				m, _ := img.RawManifest()
				mt, _ := img.MediaType()
				pr, _ := name.NewRepository(b.proxy.Host()+"/"+repo, name.Insecure)
				out[r][a] = registry.Target{Given: pr.Name() + ":v1", Digest: pr.Digest(d.String()),
					Descriptor: v1.Descriptor{MediaType: mt, Size: int64(len(m)), Digest: d}}
			}(r, a)
		}
	}
	wg.Wait()
	if err, _ := firstErr.Load().(error); err != nil {
		return nil, fmt.Errorf("preparing images: %w", err)
	}
	return out, nil
}

// sign runs every release with c: its artifacts one after another, the release failing at its first failed signature.
func (b *bench) sign(ctx context.Context, c *registry.Client, rels [][]registry.Target) runStats {
	st := runStats{classes: map[result.Class]int{}}
	var mu sync.Mutex
	var wg sync.WaitGroup
	jobs := make(chan []registry.Target)
	start := time.Now()
	for w := 0; w < *workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for rel := range jobs {
				t0 := time.Now()
				var err error
				signed := 0
				for _, tg := range rel {
					if _, err = image.SignCosign(ctx, c, tg, b.key, false); err != nil {
						break
					}
					signed++
				}
				d := time.Since(t0)
				mu.Lock()
				st.sigOK += signed
				if err != nil {
					st.failed++
					st.sigNo++
					st.classes[result.ClassOf(err)]++
				} else {
					st.ok++
					st.durations = append(st.durations, d)
				}
				mu.Unlock()
			}
		}()
	}
	for _, rel := range rels {
		jobs <- rel
	}
	close(jobs)
	wg.Wait()
	st.wall = time.Since(start)
	return st
}

func pct(a, total int) float64 { return 100 * float64(a) / float64(total) }

func mean(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	var s time.Duration
	for _, d := range ds {
		s += d
	}
	return s / time.Duration(len(ds))
}

func quantile(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	c := append([]time.Duration(nil), ds...)
	sort.Slice(c, func(i, j int) bool { return c[i] < c[j] })
	return c[int(q*float64(len(c)-1))]
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000) }

func classes(m map[result.Class]int) string {
	var parts []string
	for c, k := range m {
		parts = append(parts, fmt.Sprintf("%s:%d", c, k))
	}
	sort.Strings(parts)
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, " ")
}

func run() error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	state, err := os.MkdirTemp("", "rg-resilience-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(state)
	srv := httptest.NewServer(ggcr.New(ggcr.Logger(log.New(io.Discard, "", 0))))
	defer srv.Close()
	proxy, err := faultproxy.New(srv.URL, *seed)
	if err != nil {
		return err
	}
	defer proxy.Close()
	b := &bench{srv: srv, proxy: proxy, key: key, state: state}
	ctx := context.Background()

	t0 := time.Now()
	withRel, err := b.releases("with", *n)
	if err != nil {
		return err
	}
	bareRel, err := b.releases("bare", *n)
	if err != nil {
		return err
	}
	if *cleanN <= 0 {
		*cleanN = max(*n/5, min(50, *n))
	}
	cleanRel, err := b.releases("clean", *cleanN)
	if err != nil {
		return err
	}
	setup := time.Since(t0)

	var retries atomic.Int64
	set := breaker.New(state+"/faults", breaker.DefaultThreshold, breaker.DefaultOpenFor)
	proxy.SetRate(*rate, faults...)
	r0, i0 := proxy.Counts()
	with := b.sign(ctx, b.resilient(set, &retries), withRel)
	r1, i1 := proxy.Counts()
	bare := b.sign(ctx, b.bare(), bareRel)
	r2, i2 := proxy.Counts()
	proxy.SetRate(0)
	var cleanRetries atomic.Int64
	clean := b.sign(ctx, b.resilient(breaker.New(state+"/clean", breaker.DefaultThreshold, breaker.DefaultOpenFor), &cleanRetries), cleanRel)

	downRel := withRel[:min(*downN, len(withRel))]
	proxy.SetDown(true)
	var downRetries atomic.Int64
	dctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	down := b.sign(dctx, b.resilient(breaker.New(state+"/down", breaker.DefaultThreshold, breaker.DefaultOpenFor), &downRetries), downRel)
	cancel()
	uctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	downNoBreaker := b.sign(uctx, b.unbroken(), downRel)
	cancel()
	proxy.SetDown(false)

	total := *n
	fmt.Printf("# resilience: N=%d releases x %d cosign signatures (sign, push, verify) per run, %.1f%% of requests fail transiently (%s) through the fault proxy in front of an in-process registry; %d workers, %d CPUs; setup %s\n",
		total, *artifacts, 100**rate, strings.Trim(fmt.Sprint(faults), "[]"), *workers, runtime.NumCPU(), setup.Round(time.Millisecond))
	fmt.Printf("# faults injected: %d of %d requests with retries, %d of %d with retries off; %d per-request retries; failure classes with retries: %s; retries off: %s\n",
		i1-i0, r1-r0, i2-i1, r2-r1, retries.Load(), classes(with.classes), classes(bare.classes))
	fmt.Println("| case | ours | peer | ratio | target |")
	fmt.Println("|---|---|---|---|---|")
	ours, peer := pct(with.ok, total), pct(bare.ok, total)
	ratio := "-"
	if peer > 0 {
		ratio = fmt.Sprintf("%.1fx", ours/peer)
	}
	verdict := "PASS"
	if ours < *target {
		verdict = "FAIL"
	}
	fmt.Printf("| release success rate, %.0f%% transient faults (ours: retries+breakers; peer: same run, retries off) | %.2f%% (%d/%d) | %.2f%% (%d/%d) | %s | >= %.1f%% %s |\n",
		100**rate, ours, with.ok, total, peer, bare.ok, total, ratio, *target, verdict)
	fmt.Printf("| signature success rate, same runs | %.2f%% | %.2f%% | - | - |\n",
		pct(with.sigOK, with.sigOK+with.sigNo), pct(bare.sigOK, bare.sigOK+bare.sigNo))
	fmt.Printf("| release time with faults vs no faults, mean (ours: faults+retries; peer: fault-free run) | %s | %s | %.2fx | - |\n",
		ms(mean(with.durations)), ms(mean(clean.durations)), float64(mean(with.durations))/float64(max(mean(clean.durations), 1)))
	fmt.Printf("| release time with faults vs no faults, p95 | %s | %s | %.2fx | - |\n",
		ms(quantile(with.durations, 0.95)), ms(quantile(clean.durations, 0.95)), float64(quantile(with.durations, 0.95))/float64(max(quantile(clean.durations, 0.95), 1)))
	fmt.Printf("| extra time retries cost per release, mean | +%s | - | - | - |\n", ms(mean(with.durations)-mean(clean.durations)))
	fmt.Printf("| batch wall time per release (ours: %d with faults+retries; peer: %d fault-free) | %s | %s | %.2fx | - |\n",
		total, len(cleanRel), ms(with.wall/time.Duration(total)), ms(clean.wall/time.Duration(len(cleanRel))),
		(float64(with.wall)/float64(total))/(float64(clean.wall)/float64(len(cleanRel))))
	downVerdict := "PASS"
	if down.wall > 2*time.Second || down.ok > 0 {
		downVerdict = "FAIL"
	}
	fmt.Printf("| registry down: %d releases stopped (ours: breaker; peer: same retries, no breaker) | %s, all %s | %s, all %s | %.1fx faster | <= 2 s %s |\n",
		len(downRel), down.wall.Round(time.Millisecond), classes(down.classes), downNoBreaker.wall.Round(time.Millisecond), classes(downNoBreaker.classes),
		float64(downNoBreaker.wall)/float64(max(down.wall, 1)), downVerdict)
	if verdict == "FAIL" || downVerdict == "FAIL" {
		os.Exit(1)
	}
	return nil
}
