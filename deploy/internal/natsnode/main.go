// Command natsnode runs one crisisbus cluster node, a nats-server, from a
// configuration file, as its own process: the chaos tests (deploy/chaos)
// build it and start three of them, so a node can be killed with SIGKILL or
// frozen with SIGSTOP as a failing machine would be. It is not part of
// crisisbus's commands; in production the nodes are nats-server itself.
//
//	natsnode -c nats-1.conf
//
// SIGTERM or SIGINT shuts the node down cleanly.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

func main() {
	conf := flag.String("c", "", "the node's configuration file")
	flag.Parse()
	if err := run(*conf); err != nil {
		fmt.Fprintln(os.Stderr, "natsnode:", err)
		os.Exit(1)
	}
}

func run(conf string) error {
	if conf == "" {
		return fmt.Errorf("no configuration file: natsnode -c FILE")
	}
	opts, err := server.ProcessConfigFile(conf)
	if err != nil {
		return fmt.Errorf("configuration %s: %w", conf, err)
	}
	opts.NoSigs = true
	s, err := server.NewServer(opts)
	if err != nil {
		return fmt.Errorf("node %s: %w", conf, err)
	}
	s.ConfigureLogger()
	go s.Start()
	if !s.ReadyForConnections(time.Minute) {
		return fmt.Errorf("node %s did not start", opts.ServerName)
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		<-sig
		s.Shutdown()
	}()
	s.WaitForShutdown()
	return nil
}
