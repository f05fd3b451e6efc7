package bench

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	natsbroker "github.com/canvasrelay/canvasrelay/relay/broker/nats"
	"github.com/nats-io/nats-server/v2/server"
)

// cluster is an embedded NATS server (with JetStream) and relay nodes that
// share rooms through it (issue 8), all in this process on 127.0.0.1.
type cluster struct {
	ns      *server.Server
	dir     string
	brokers []*natsbroker.Broker
	nodes   []*target
}

// startCluster starts NATS and n relay nodes. The target it returns is the
// first node (the publisher's), with every node in peers; its close stops
// the whole cluster.
func startCluster(ctx context.Context, o *Options, n int) (*target, error) {
	c := &cluster{}
	var err error
	if c.dir, err = os.MkdirTemp("", "canvasrelay-bench-nats-"); err != nil {
		return nil, fmt.Errorf("cluster: %w", err)
	}
	payload, _ := natsbroker.SuggestedPayload(relayMaxBytes(o))
	c.ns, err = natsbroker.RunEmbedded(natsbroker.EmbeddedConfig{Port: -1, StoreDir: c.dir, MaxPayload: payload, Name: "canvasrelay-bench"})
	if err != nil {
		_ = os.RemoveAll(c.dir)
		return nil, fmt.Errorf("cluster: %w", err)
	}
	for i := 0; i < n; i++ {
		id := fmt.Sprintf("bench-%c", 'a'+i)
		b, err := natsbroker.New(ctx, natsbroker.Config{
			URLs: []string{c.ns.ClientURL()}, NodeID: id, MaxBytes: relayMaxBytes(o), Logger: o.ServerLogger,
		})
		if err != nil {
			_ = c.close()
			return nil, fmt.Errorf("cluster: node %s: %w", id, err)
		}
		c.brokers = append(c.brokers, b)
		t, err := startLocalRelay(o, b, id)
		if err != nil {
			_ = c.close()
			return nil, fmt.Errorf("cluster: node %s: %w", id, err)
		}
		c.nodes = append(c.nodes, t)
	}
	first := *c.nodes[0]
	first.close = c.close
	first.peers = c.nodes
	first.desc = c.where()
	return &first, nil
}

// close stops the relays (1001 to their members), then their brokers, then
// NATS, and removes its store.
func (c *cluster) close() error {
	var errs []error
	for _, t := range c.nodes {
		errs = append(errs, t.close())
	}
	for _, b := range c.brokers {
		errs = append(errs, b.Close())
	}
	if c.ns != nil {
		c.ns.Shutdown()
		c.ns.WaitForShutdown()
	}
	errs = append(errs, os.RemoveAll(c.dir))
	return errors.Join(errs...)
}

func (c *cluster) where() string {
	var b strings.Builder
	fmt.Fprintf(&b, "in-process NATS %s (JetStream, file store) and relay nodes", c.ns.ClientURL())
	for _, t := range c.nodes {
		b.WriteString(" " + t.base)
	}
	return b.String()
}

func runClusterScenario(ctx context.Context, o *Options, rep *Report) error {
	img, err := makePNG(o.Size)
	if err != nil {
		return err
	}
	setFanoutParams(rep, o, 0)
	rep.rows = func(rep *Report) []row { return append(fanoutRows(rep), groupRows(rep, "")...) }
	var errs []error
	run := func(name, impl string, start func() (*target, error), groups []subGroup) {
		if ctx.Err() != nil {
			return
		}
		ld := fanoutLoad(o, o.roomName("cluster"), 0)
		ld.img = img
		ld.groups = groups
		if err := fanoutRunOn(ctx, o, rep, name, impl, start, ld); err != nil {
			errs = append(errs, err)
		}
	}
	type step struct {
		name, impl string
		start      func() (*target, error)
		groups     []subGroup
	}
	for _, s := range inOrder(o, []step{
		{"single", implRelay, func() (*target, error) { return startLocalRelay(o, nil, "") }, nil},
		{"nats", implRelay, func() (*target, error) { return startCluster(ctx, o, 2) },
			[]subGroup{{name: "node a (publisher's)"}, {name: "node b", base: clusterNodeB}}},
		{implFloor, implFloor, func() (*target, error) { return startFloor(o) }, nil},
	}) {
		run(s.name, s.impl, s.start, s.groups)
	}
	if s, n := rep.run("single"), rep.run("nats"); s != nil && n != nil {
		rep.Relay = "single: " + s.Where + "; nats: " + n.Where
	}

	single, nats, flo := rep.run("single"), rep.run("nats"), rep.run(implFloor)
	if single != nil && nats != nil && single.Fanout != nil && nats.Fanout != nil {
		a, b := nats.Fanout, single.Fanout
		rep.Ratios = append(rep.Ratios,
			Ratio{Name: "delivered MB/s, NATS 2 nodes/single node", Value: ratio(a.DeliveredMBps, b.DeliveredMBps)},
			Ratio{Name: "published frames/s, NATS/single", Value: ratio(a.PublishedFPS, b.PublishedFPS)},
			Ratio{Name: "latency p50, NATS/single", Value: ratio(a.Latency.P50, b.Latency.P50), Note: "lower is better"},
			Ratio{Name: "latency p99, NATS/single", Value: ratio(a.Latency.P99, b.Latency.P99), Note: "lower is better"},
		)
		if len(a.Groups) == 2 {
			rep.Ratios = append(rep.Ratios, Ratio{Name: "latency p50, node b/node a", Value: ratio(a.Groups[1].Latency.P50, a.Groups[0].Latency.P50), Note: "the cost of the hop through NATS"})
		}
	}
	if flo != nil && flo.Fanout != nil {
		for _, r := range []*RunResult{single, nats} {
			if r != nil && r.Fanout != nil {
				rep.Ratios = append(rep.Ratios, Ratio{Name: "delivered MB/s, " + r.Name + "/floor", Value: ratio(r.Fanout.DeliveredMBps, flo.Fanout.DeliveredMBps)})
			}
		}
	}
	rep.note("nats: an embedded NATS server with JetStream (file store in a temp dir) and two relay nodes, all in this process; the publisher and half the subscribers are on node a, the other half on node b. On one shared machine this shows the cost of the NATS path (encode, publish to JetStream, decode and deliver on each node), not the capacity a second machine would add")
	addCommonNotes(rep)
	return errors.Join(errs...)
}

// clusterNodeB marks a group that dials the second node of a cluster; the
// run resolves it once the cluster has started.
const clusterNodeB = "cluster:node-b"

// fanoutRunOn runs one fan-out run on the target start returns, and adds
// it to the report. A group base of clusterNodeB is the cluster's second node.
func fanoutRunOn(ctx context.Context, o *Options, rep *Report, name, impl string, start func() (*target, error), ld load) error {
	o.Logger.Info("run", "name", name)
	t, err := start()
	if err != nil {
		rep.Runs = append(rep.Runs, RunResult{Name: name, Impl: impl, Error: err.Error()})
		return err
	}
	defer func() {
		if cerr := t.close(); cerr != nil {
			o.Logger.Warn("closing "+name, "err", cerr)
		}
	}()
	if t.peers != nil {
		for i := range ld.groups {
			if ld.groups[i].base == clusterNodeB {
				ld.groups[i].base = t.peers[1].base
			}
		}
	}
	if impl == implFloor && rep.Floor == "" {
		rep.Floor = t.where()
	} else if impl == implRelay && rep.Relay == "" {
		rep.Relay = t.where()
	}
	res, proc, err := runFanout(ctx, t, ld, o)
	r := RunResult{Name: name, Impl: impl, Where: t.where(), Fanout: res, Proc: proc}
	if err != nil {
		r.Error = err.Error()
	}
	rep.Runs = append(rep.Runs, r)
	return err
}
