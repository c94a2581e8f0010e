package deploy

// Which AWS API operations each Ferry process can call, derived from the
// code: the IAM policies in deploy/terraform are checked against this, so
// a new SDK call without its permission fails a test.
//
// The analysis builds SSA for Ferry's own packages (golang.org/x/tools)
// and walks what is reachable from a process's entry function. It is
// conservative, in the manner of rapid type analysis: a function is
// reachable when a reachable function calls it or takes it as a value,
// and every method of a Ferry type is reachable once reachable code turns
// a value of it into an interface — Temporal calls activity methods by
// reflection, net/http calls handlers, and neither shows as a call.
// Dependencies are read from their types only, so SDK calls are seen where
// Ferry makes them:
//
//   - a call of a method of *s3.Client, *dynamodb.Client, *sqs.Client or
//     *sns.Client (directly, or as a method value);
//   - a call through an interface the client satisfies (Ferry's narrow
//     interfaces such as bridge.QueueAPI or landing.VersionLister);
//   - an SDK paginator or waiter built on a client (NewQueryPaginator is
//     Query).
//
// A client handed to any other function outside Ferry fails the analysis
// ("teach it"), rather than hide the calls that function makes.

import (
	"fmt"
	"go/token"
	"go/types"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	"golang.org/x/tools/go/packages"
	"golang.org/x/tools/go/ssa"
	"golang.org/x/tools/go/ssa/ssautil"
)

const (
	modulePath = "github.com/ferrydata/ferry"
	sdkService = "github.com/aws/aws-sdk-go-v2/service/"
)

// awsServices are the SDK clients whose calls need IAM permissions, by
// package name (which is also the IAM service prefix).
var awsServices = []string{"s3", "dynamodb", "sqs", "sns"}

// sdkWaiters are the SDK waiters that may be built on a client, with the
// operation each polls.
var sdkWaiters = map[string]string{
	"dynamodb.NewTableExistsWaiter":    "DescribeTable",
	"dynamodb.NewTableNotExistsWaiter": "DescribeTable",
	"s3.NewBucketExistsWaiter":         "HeadBucket",
	"s3.NewObjectExistsWaiter":         "HeadObject",
}

// apiCall is one place where Ferry's code calls an AWS operation.
type apiCall struct {
	Op  string // "s3.ListParts"
	At  string // file:line
	In  string // the function that calls
	How string // "call", "interface bridge.QueueAPI", "paginator", ...
}

func (c apiCall) String() string { return fmt.Sprintf("%s at %s in %s (%s)", c.Op, c.At, c.In, c.How) }

var (
	ssaOnce sync.Once
	ssaProg *ssa.Program
	ssaErr  error
)

// ferryProgram loads Ferry's packages (not their tests) as SSA, once per
// test binary.
func ferryProgram(t *testing.T) *ssa.Program {
	t.Helper()
	ssaOnce.Do(func() {
		cfg := &packages.Config{Mode: packages.LoadSyntax, Dir: "..", Tests: false}
		pkgs, err := packages.Load(cfg, modulePath+"/...")
		if err != nil {
			ssaErr = err
			return
		}
		var errs []string
		packages.Visit(pkgs, nil, func(p *packages.Package) {
			for _, e := range p.Errors {
				errs = append(errs, e.Error())
			}
		})
		if len(errs) > 0 {
			ssaErr = fmt.Errorf("loading Ferry's packages: %s", strings.Join(errs, "; "))
			return
		}
		ssaProg, _ = ssautil.Packages(pkgs, ssa.InstantiateGenerics)
		ssaProg.Build()
	})
	if ssaErr != nil {
		t.Fatal(ssaErr)
	}
	return ssaProg
}

// awsCalls returns the AWS operations reachable from the entry function
// (package path and function name) of a process, with where each is
// called, and the problems that stop the analysis from being sure.
func awsCalls(t *testing.T, pkgPath, entry string) (map[string][]apiCall, []string) {
	t.Helper()
	prog := ferryProgram(t)
	pkg := prog.ImportedPackage(pkgPath)
	if pkg == nil || pkg.Func(entry) == nil {
		t.Fatalf("entry %s.%s not found: was it renamed? Update the process table in deploy/terraform_test.go", pkgPath, entry)
	}
	w := &walker{prog: prog, seen: map[*ssa.Function]bool{}, calls: map[string][]apiCall{}, methodsOf: map[types.Type]bool{}}
	for _, c := range awsServices {
		if p := prog.ImportedPackage(sdkService + c); p != nil {
			w.clients = append(w.clients, types.NewPointer(p.Type("Client").Type()))
		}
	}
	// Package initializers run in every process that imports them.
	var inits func(p *types.Package, done map[*types.Package]bool)
	inits = func(p *types.Package, done map[*types.Package]bool) {
		if done[p] || !isFerryPath(p.Path()) {
			return
		}
		done[p] = true
		if sp := prog.Package(p); sp != nil {
			w.reach(sp.Func("init"), token.NoPos)
		}
		for _, imp := range p.Imports() {
			inits(imp, done)
		}
	}
	inits(pkg.Pkg, map[*types.Package]bool{})
	w.reach(pkg.Func(entry), token.NoPos)
	for len(w.queue) > 0 {
		fn := w.queue[0]
		w.queue = w.queue[1:]
		w.visit(fn)
	}
	return w.calls, w.problems
}

type walker struct {
	prog      *ssa.Program
	clients   []types.Type
	seen      map[*ssa.Function]bool
	queue     []*ssa.Function
	calls     map[string][]apiCall
	methodsOf map[types.Type]bool
	problems  []string
	current   *ssa.Function // the function being visited
}

func isFerryPath(path string) bool {
	return path == modulePath || strings.HasPrefix(path, modulePath+"/")
}

func isFerry(fn *ssa.Function) bool {
	if fn.Pkg != nil {
		return isFerryPath(fn.Pkg.Pkg.Path())
	}
	// Wrappers and instantiations: by their origin or receiver.
	if o := fn.Origin(); o != nil {
		return isFerry(o)
	}
	if obj, ok := fn.Object().(*types.Func); ok && obj.Pkg() != nil {
		return isFerryPath(obj.Pkg().Path())
	}
	return fn.Synthetic != "" // bound and thunk wrappers: their bodies say what they call
}

// reach marks fn reachable (pos: where it was reached from, for wrappers
// without a position of their own).
func (w *walker) reach(fn *ssa.Function, pos token.Pos) {
	if fn == nil || w.seen[fn] {
		return
	}
	if op, ok := w.clientMethod(fn); ok {
		w.record(op, pos, w.current, "method value")
		return
	}
	w.seen[fn] = true
	if isFerry(fn) {
		w.queue = append(w.queue, fn)
	}
}

// clientMethod reports whether fn is an operation method of an SDK client.
func (w *walker) clientMethod(fn *ssa.Function) (string, bool) {
	sig := fn.Signature
	if sig.Recv() == nil {
		return "", false
	}
	for _, c := range w.clients {
		if types.Identical(sig.Recv().Type(), c) && isOperation(c, fn.Name()) {
			return opName(c, fn.Name()), true
		}
	}
	return "", false
}

// isOperation: an API operation takes (context, *<Name>Input, ...); a
// client has other methods (Options) that call nothing.
func isOperation(client types.Type, method string) bool {
	obj, _, _ := types.LookupFieldOrMethod(client, true, nil, method)
	fn, ok := obj.(*types.Func)
	if !ok {
		return false
	}
	params := fn.Type().(*types.Signature).Params()
	if params.Len() < 2 {
		return false
	}
	in, ok := params.At(1).Type().(*types.Pointer)
	if !ok {
		return false
	}
	named, ok := in.Elem().(*types.Named)
	return ok && named.Obj().Name() == method+"Input"
}

func opName(client types.Type, method string) string {
	return client.(*types.Pointer).Elem().(*types.Named).Obj().Pkg().Name() + "." + method
}

func (w *walker) record(op string, pos token.Pos, in *ssa.Function, how string) {
	at := "?"
	if pos.IsValid() {
		p := w.prog.Fset.Position(pos)
		at = fmt.Sprintf("%s:%d", relPath(p.Filename), p.Line)
	}
	name := "?"
	if in != nil {
		name = in.RelString(nil)
		name = strings.ReplaceAll(name, modulePath+"/", "")
	}
	for _, c := range w.calls[op] {
		if c.At == at && c.How == how {
			return
		}
	}
	w.calls[op] = append(w.calls[op], apiCall{Op: op, At: at, In: name, How: how})
}

// relPath makes file relative to the repository (the module's root).
func relPath(file string) string {
	root, err := filepath.Abs("..")
	if err != nil {
		return file
	}
	if rel, err := filepath.Rel(root, file); err == nil && !strings.HasPrefix(rel, "..") {
		return rel
	}
	return file
}

func (w *walker) visit(fn *ssa.Function) {
	w.current = fn
	if fn.Blocks == nil {
		if o := fn.Origin(); o != nil {
			w.reach(o, fn.Pos())
		}
		return
	}
	for _, b := range fn.Blocks {
		for _, instr := range b.Instrs {
			pos := instr.Pos()
			if !pos.IsValid() {
				pos = fn.Pos()
			}
			var callee ssa.Value
			if call, ok := instr.(ssa.CallInstruction); ok {
				w.call(fn, call.Common(), pos)
				if sc := call.Common().StaticCallee(); sc != nil {
					if _, isClient := w.clientMethod(sc); isClient {
						callee = call.Common().Value // recorded as a call
					}
				}
			}
			if mi, ok := instr.(*ssa.MakeInterface); ok {
				w.converted(mi.X.Type(), pos)
			}
			for _, op := range instr.Operands(nil) {
				if f, ok := (*op).(*ssa.Function); ok && *op != callee {
					w.reach(f, pos)
				}
			}
		}
	}
}

func (w *walker) call(fn *ssa.Function, c *ssa.CallCommon, pos token.Pos) {
	if c.IsInvoke() {
		iface, _ := c.Value.Type().Underlying().(*types.Interface)
		for _, client := range w.clients {
			if iface != nil && types.Implements(client, iface) && isOperation(client, c.Method.Name()) {
				w.record(opName(client, c.Method.Name()), pos, fn, "interface "+typeName(c.Value.Type()))
			}
		}
		return
	}
	callee := c.StaticCallee()
	if callee == nil {
		return // a function value: reached where it was taken
	}
	if op, ok := w.clientMethod(callee); ok {
		w.record(op, pos, fn, "call")
		return
	}
	if isFerry(callee) {
		return // reached through its operand
	}
	// Outside Ferry: an SDK paginator or waiter, or something that must
	// not be given a client unseen.
	name := callee.Name()
	pkgName := ""
	if callee.Pkg != nil {
		pkgName = callee.Pkg.Pkg.Name()
	}
	givesClient := false
	for _, a := range c.Args {
		if w.isClientValue(a) {
			givesClient = true
		}
	}
	if !givesClient {
		return
	}
	qualified := pkgName + "." + name
	switch {
	case callee.Pkg != nil && strings.HasPrefix(callee.Pkg.Pkg.Path(), sdkService) && strings.HasPrefix(name, "New") && strings.HasSuffix(name, "Paginator"):
		w.record(pkgName+"."+strings.TrimSuffix(strings.TrimPrefix(name, "New"), "Paginator"), pos, fn, "paginator")
	case sdkWaiters[qualified] != "":
		w.record(pkgName+"."+sdkWaiters[qualified], pos, fn, "waiter")
	default:
		w.problems = append(w.problems, fmt.Sprintf("%s in %s hands an AWS client to %s, whose calls the analysis cannot see: teach deploy/awscalls_test.go what it calls",
			w.prog.Fset.Position(pos), fn.RelString(nil), callee.RelString(nil)))
	}
}

// isClientValue: v is an SDK client, or one converted to an interface.
func (w *walker) isClientValue(v ssa.Value) bool {
	if mi, ok := v.(*ssa.MakeInterface); ok {
		v = mi.X
	}
	for _, c := range w.clients {
		if types.Identical(v.Type(), c) {
			return true
		}
	}
	return false
}

// converted makes every method of a Ferry type reachable once a value of
// it becomes an interface value (whoever holds that may call them).
func (w *walker) converted(t types.Type, pos token.Pos) {
	if w.methodsOf[t] {
		return
	}
	w.methodsOf[t] = true
	base := t
	if p, ok := t.(*types.Pointer); ok {
		base = p.Elem()
	}
	named, ok := base.(*types.Named)
	if !ok || named.Obj().Pkg() == nil || !isFerryPath(named.Obj().Pkg().Path()) || types.IsInterface(t) {
		return
	}
	ms := w.prog.MethodSets.MethodSet(t)
	for i := 0; i < ms.Len(); i++ {
		w.reach(w.prog.MethodValue(ms.At(i)), pos)
	}
}

func typeName(t types.Type) string {
	return strings.ReplaceAll(types.TypeString(t, nil), modulePath+"/", "")
}

// sortedOps lists the operations found, sorted.
func sortedOps(calls map[string][]apiCall) []string {
	var ops []string
	for op := range calls {
		ops = append(ops, op)
	}
	sort.Strings(ops)
	return ops
}
