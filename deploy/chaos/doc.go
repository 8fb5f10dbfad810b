// Package chaos tries deploy/cluster's three-node configuration under the
// faults a real cluster meets: the event stream's leader killed (SIGKILL) in
// the middle of a run of handoffs, all three nodes restarted, the leader
// frozen (SIGSTOP) and let go, two clock services running side by side, and
// a receiving agency offline while handoffs pile up for it.
//
// The nodes are real nats-servers started from the cluster's files, each
// its own process (deploy/internal/natsnode), so a fault is what an operator
// would see: a machine that dies or stalls. The services are crisisbus's
// own: the episode record, the SPoA service's inbox, the police service's
// offer, the clock.
//
// The short run is part of `go test ./...`; the full run prints its figures:
//
//	go test ./deploy/chaos -run '^$' -bench Chaos -benchtime 1x -timeout 60m
//
// (`task chaos`). The figures of the last runs are in deploy/README.md.
package chaos
