package stacktest

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/sdk/client"

	"github.com/ferrydata/ferry/internal/ingest"
	"github.com/ferrydata/ferry/internal/localkeys"
)

// ownServices are the services started for this test binary alone.
type ownServices struct {
	dir    string             // their data and logs, removed at the end
	s3     S3Server           // which server S3 is (S3ServerEnv)
	addr   map[Service]string // reserved at set-up, so clients never change
	procs  map[Service]*process
	failed map[Service]error // a service that did not start is not tried again
}

// setUpOwn reserves a free port for each service and points the
// environment at them; the services start when a test declares them.
func setUpOwn() (*Stack, error) {
	root, tl, err := install()
	if err != nil {
		return nil, err
	}
	o := &run.own
	if o.s3, err = selectedS3(); err != nil {
		return nil, err
	}
	o.addr, o.procs, o.failed = map[Service]string{}, map[Service]*process{}, map[Service]error{}
	for _, s := range []Service{Temporal, S3, DynamoDB, SQS, SNS, Clamd} {
		if o.addr[s], err = freeAddr(); err != nil {
			return nil, err
		}
	}
	if o.dir, err = os.MkdirTemp("", "ferry-stacktest-"); err != nil {
		return nil, err
	}
	st, err := connect(root, map[string]string{
		"AWS_REGION":                "us-east-1",
		"AWS_ACCESS_KEY_ID":         "ferrytest", // the S3 server's root user
		"AWS_SECRET_ACCESS_KEY":     Unique("secret-"),
		"AWS_SESSION_TOKEN":         "",
		"AWS_ENDPOINT_URL_S3":       "http://" + o.addr[S3],
		"AWS_ENDPOINT_URL_DYNAMODB": "http://" + o.addr[DynamoDB],
		"AWS_ENDPOINT_URL_SQS":      "http://" + o.addr[SQS],
		"AWS_ENDPOINT_URL_SNS":      "http://" + o.addr[SNS],
		"FERRY_CONFIG":              filepath.Join(root, "deploy/local/ferry.yaml"),
		"FERRY_TEMPORAL_ADDRESS":    o.addr[Temporal],
		"FERRY_WEBHOOK_SECRET":      Unique("webhook-"), // deploy/local/ferry.yaml's webhook secret_env
		"FERRY_SCANNER_CLAMD":       "tcp://" + o.addr[Clamd],
		// Ferry must not send clamd more than its StreamMaxLength.
		"FERRY_SCANNER_MAX_STREAM_BYTES": strconv.Itoa(ClamdMaxStreamBytes),
	}, tl, false)
	if err != nil {
		return nil, err
	}
	st.S3Server = o.s3
	// The config's partners that decrypt name key files the worker loads
	// at start; the local stack's provisioner makes them, and so, for a
	// binary of its own, does this.
	if err := localkeys.EnsurePGP(st.Config); err != nil {
		return nil, fmt.Errorf("making the PGP keys deploy/local/ferry.yaml names: %w", err)
	}
	return st, nil
}

// start starts s on its reserved address unless it runs; one that a test
// stopped or killed is started again.
func (o *ownServices) start(st *Stack, s Service) error {
	if p := o.procs[s]; p != nil {
		if !p.gone() {
			return nil
		}
		delete(o.procs, s)
	}
	if err := o.failed[s]; err != nil {
		return err
	}
	p, err := o.launch(st, s)
	if err != nil {
		err = fmt.Errorf("starting %s for this test binary: %w", s, err)
		o.failed[s] = err
		return err
	}
	o.procs[s] = p
	return nil
}

func (o *ownServices) launch(st *Stack, s Service) (*process, error) {
	addr := o.addr[s]
	host, port, _ := net.SplitHostPort(addr)
	switch s {
	case Temporal:
		// A SQLite file, as the local stack's: the same store, so the same
		// speed (an in-memory one starts workflows ten times as fast).
		args := []string{st.tools.temporal, "server", "start-dev", "--ip", host, "--port", port, "--headless",
			"--db-filename", filepath.Join(o.dir, "temporal.db"), "--namespace", st.Config.Temporal.Namespace, "--log-level", "warn",
			"--sqlite-pragma", "journal_mode=WAL", "--sqlite-pragma", "synchronous=NORMAL"}
		for _, a := range ingest.SearchAttributes {
			args = append(args, "--search-attribute", a.GetName()+"="+a.GetValueType().String())
		}
		return o.spawn("temporal", nil, 90*time.Second, func() error { return temporalReady(addr, st.Config.Temporal.Namespace) }, args...)
	case S3:
		if o.s3 == VersityGW {
			env := []string{"ROOT_ACCESS_KEY=" + st.Env["AWS_ACCESS_KEY_ID"], "ROOT_SECRET_KEY=" + st.Env["AWS_SECRET_ACCESS_KEY"]}
			args, ready, err := versitygwArgs(st.tools.versitygw, addr, filepath.Join(o.dir, "versitygw"))
			if err != nil {
				return nil, err
			}
			return o.spawn("versitygw", env, time.Minute, ready, args...)
		}
		console, err := freeAddr()
		if err != nil {
			return nil, err
		}
		key := make([]byte, 32)
		_, _ = rand.Read(key)
		env := []string{
			"MINIO_ROOT_USER=" + st.Env["AWS_ACCESS_KEY_ID"], "MINIO_ROOT_PASSWORD=" + st.Env["AWS_SECRET_ACCESS_KEY"],
			"MINIO_KMS_SECRET_KEY=" + KMSKeyID + ":" + base64.StdEncoding.EncodeToString(key),
			"MINIO_UPDATE=off", "MINIO_BROWSER=off",
		}
		return o.spawn("minio", env, time.Minute, func() error { return httpOK("http://" + addr + "/minio/health/live") },
			st.tools.minio, "server", filepath.Join(o.dir, "minio"), "--quiet", "--address", addr, "--console-address", console)
	case DynamoDB:
		return o.spawn("dynalite", nil, 30*time.Second, func() error { return listening(addr) },
			"node", filepath.Join(st.tools.nodeModules, "dynalite/cli.js"), "--host", host, "--port", port, "--createTableMs", "50")
	case SQS:
		return o.spawn("sqs", nil, 30*time.Second, func() error { return listening(addr) },
			"node", filepath.Join(st.Root, "deploy/local/sqs/server.js"), "--host", host, "--port", port)
	case SNS:
		// goaws reads its settings from a YAML file (without one it
		// searches its working directory for goaws.yaml); it binds
		// 0.0.0.0 whatever Host says.
		conf := filepath.Join(o.dir, "goaws.yaml")
		if err := os.WriteFile(conf, []byte(goawsConfig(host, port)), 0o600); err != nil {
			return nil, err
		}
		return o.spawn("goaws", nil, 30*time.Second, func() error { return listening(addr) },
			st.tools.goaws, "-config", conf, "-loglevel", "warn")
	case Clamd:
		conf, err := clamdConf(st.Root, filepath.Join(o.dir, "clamd"), addr, ClamdMaxStreamBytes)
		if err != nil {
			return nil, err
		}
		return o.spawn("clamd", nil, time.Minute, func() error { return clamdReady("tcp://" + addr) },
			st.tools.clamd, "--config-file="+conf)
	}
	return nil, fmt.Errorf("no such service: %s", s)
}

// goawsConfig is goaws's settings file: where it says it is (queue URLs
// and SNS envelopes name it), the region and account of its ARNs, no
// queues or topics (tests and the provisioner create them).
func goawsConfig(host, port string) string {
	return fmt.Sprintf("Local:\n  Host: %s\n  Port: %s\n  Region: us-east-1\n  AccountId: \"100010001000\"\n", host, port)
}

// stop stops every service and removes their data.
func (o *ownServices) stop() error {
	for _, p := range o.procs {
		p.signal(syscall.SIGTERM)
	}
	var errs []error
	for s, p := range o.procs {
		if !p.waitExit(10 * time.Second) {
			p.signal(syscall.SIGKILL)
			p.waitExit(5 * time.Second)
			errs = append(errs, fmt.Errorf("%s did not stop within 10s of SIGTERM; killed", s))
		}
	}
	o.procs = nil
	if o.dir != "" {
		errs = append(errs, os.RemoveAll(o.dir))
	}
	return errors.Join(errs...)
}

// process is a service this binary started.
type process struct {
	name, log string
	cmd       *exec.Cmd
	exited    chan struct{}
}

// spawn starts a service and waits until ready says it serves.
func (o *ownServices) spawn(name string, env []string, within time.Duration, ready func() error, args ...string) (*process, error) {
	p := &process{name: name, log: filepath.Join(o.dir, name+".log"), exited: make(chan struct{})}
	// Appending: a service a test restarts keeps its earlier log.
	logf, err := os.OpenFile(p.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	defer logf.Close() // the child has its own copy
	p.cmd = exec.Command(args[0], args[1:]...)
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stdout, p.cmd.Stderr = logf, logf
	// Its own process group; and killed with this binary if Main cannot
	// stop it (a test timeout, a crash): nothing outlives a test run on a
	// shared machine.
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := p.cmd.Start(); err != nil {
		return nil, err
	}
	go func() { _ = p.cmd.Wait(); close(p.exited) }()

	exited := false
	state, ok := poll(within, func() (bool, string) {
		select {
		case <-p.exited:
			exited = true
			return true, ""
		default:
		}
		if err := ready(); err != nil {
			return false, err.Error()
		}
		return true, ""
	})
	switch {
	case exited:
		return nil, fmt.Errorf("%s exited at start (%s); its log:\n%s", name, p.cmd.ProcessState, p.tail())
	case !ok:
		p.signal(syscall.SIGKILL)
		return nil, fmt.Errorf("%s did not serve within %s (%s); its log:\n%s", name, within, state, p.tail())
	}
	return p, nil
}

func (p *process) signal(sig syscall.Signal) { _ = syscall.Kill(-p.cmd.Process.Pid, sig) }

// gone says whether the process has ended (it is reaped at once, so a
// process that no longer runs is gone within moments).
func (p *process) gone() bool {
	if alive(p.cmd.Process.Pid) {
		select {
		case <-p.exited:
			return true
		default:
			return false
		}
	}
	return p.waitExit(10 * time.Second)
}

func (p *process) waitExit(within time.Duration) bool {
	select {
	case <-p.exited:
		return true
	case <-time.After(within):
		return false
	}
}

// tail is the end of the process's log.
func (p *process) tail() string {
	b, _ := os.ReadFile(p.log)
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-20):], "\n")
}

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("finding a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().String(), nil
}

func listening(addr string) error {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	return c.Close()
}

func httpOK(url string) error {
	c := http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return nil
}

// temporalReady: the frontend answers and Ferry's search attributes are
// registered (the dev server registers them while it starts).
func temporalReady(addr, namespace string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := client.DialContext(ctx, client.Options{HostPort: addr, Namespace: namespace, Logger: discardLogger})
	if err != nil {
		return err
	}
	defer c.Close()
	resp, err := c.OperatorService().ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: namespace})
	if err != nil {
		return err
	}
	for _, a := range ingest.SearchAttributes {
		if _, ok := resp.CustomAttributes[a.GetName()]; !ok {
			return fmt.Errorf("search attribute %s not registered yet", a.GetName())
		}
	}
	return nil
}
