package deploy

// A static evaluator of Ferry's Terraform, so the tests can read what the
// module would create without a provider (none can be had here, so no
// `terraform validate` or `plan`).
//
// It evaluates variables (types, optional() defaults, validations),
// locals, resources with count and for_each, dynamic blocks, module calls
// and outputs with HCL's own expression evaluator and the cty functions
// Terraform builds on — what `terraform plan` does before it asks a
// provider anything. What only a provider knows is filled in here:
// attributes AWS computes (a bucket's ARN, a queue's URL) follow AWS's
// documented ARN formats from the names the configuration gives, in a
// placeholder account and the provider block's region; anything else a
// provider computes stays unknown, and a test that needs it fails. Every
// value is evaluated again until none changes, as references may point
// anywhere in a module; an expression that still fails then is an error.

import (
	"errors"
	"fmt"
	"path/filepath"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/ext/tryfunc"
	"github.com/hashicorp/hcl/v2/ext/typeexpr"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
	"github.com/zclconf/go-cty/cty/function"
	"github.com/zclconf/go-cty/cty/function/stdlib"
)

// tfAccount is the placeholder account ID the evaluator's ARNs carry.
const tfAccount = "123456789012"

// tfModule is one folder of .tf files, parsed.
type tfModule struct {
	dir       string
	variables map[string]*hclsyntax.Block
	locals    map[string]*hclsyntax.Attribute
	resources []*tfResource
	modules   map[string]*hclsyntax.Block
	outputs   map[string]*hclsyntax.Block
	providers map[string]*hclsyntax.Block
}

type tfResource struct {
	data      bool
	typ, name string
	body      *hclsyntax.Body
}

func (r *tfResource) addr() string {
	if r.data {
		return "data." + r.typ + "." + r.name
	}
	return r.typ + "." + r.name
}

func parseModule(dir string) (*tfModule, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.tf"))
	if err != nil || len(files) == 0 {
		return nil, fmt.Errorf("no .tf files in %s (%v)", dir, err)
	}
	m := &tfModule{dir: dir, variables: map[string]*hclsyntax.Block{}, locals: map[string]*hclsyntax.Attribute{},
		modules: map[string]*hclsyntax.Block{}, outputs: map[string]*hclsyntax.Block{}, providers: map[string]*hclsyntax.Block{}}
	p := hclparse.NewParser()
	for _, path := range files {
		f, diags := p.ParseHCLFile(path)
		if diags.HasErrors() {
			return nil, diags
		}
		for _, b := range f.Body.(*hclsyntax.Body).Blocks {
			switch b.Type {
			case "variable":
				m.variables[b.Labels[0]] = b
			case "locals":
				for name, a := range b.Body.Attributes {
					m.locals[name] = a
				}
			case "resource", "data":
				m.resources = append(m.resources, &tfResource{data: b.Type == "data", typ: b.Labels[0], name: b.Labels[1], body: b.Body})
			case "module":
				m.modules[b.Labels[0]] = b
			case "output":
				m.outputs[b.Labels[0]] = b
			case "provider":
				m.providers[b.Labels[0]] = b
			case "terraform":
			default:
				return nil, fmt.Errorf("%s: block %q is not known to the evaluator (deploy/tfeval_test.go)", b.DefRange(), b.Type)
			}
		}
	}
	return m, nil
}

// tfEval is a module evaluated with some inputs.
type tfEval struct {
	m      *tfModule
	region string
	vars   map[string]cty.Value
	locals map[string]cty.Value
	// values of resources and data sources by address (aws_s3_bucket.x,
	// data.aws_region.current): an object, or a tuple (count) or object
	// (for_each) of instance objects.
	values  map[string]cty.Value
	modules map[string]*tfEval
	outputs map[string]cty.Value
	errs    map[string]error
}

// evalModule evaluates the module in dir with inputs; region is the aws
// provider's (a root module's provider block overrides it).
func evalModule(dir string, inputs map[string]cty.Value, region string) (*tfEval, error) {
	m, err := parseModule(dir)
	if err != nil {
		return nil, err
	}
	e := &tfEval{m: m, region: region, locals: map[string]cty.Value{}, values: map[string]cty.Value{}, modules: map[string]*tfEval{}, outputs: map[string]cty.Value{}}
	if e.vars, err = m.inputVariables(inputs); err != nil {
		return nil, err
	}
	if p, ok := m.providers["aws"]; ok {
		if a, ok := p.Body.Attributes["region"]; ok {
			v, diags := a.Expr.Value(e.ctx())
			if diags.HasErrors() || !v.IsKnown() || v.IsNull() {
				return nil, fmt.Errorf("%s: provider aws region: %v", dir, diags)
			}
			e.region = v.AsString()
		}
	}
	for name := range m.locals {
		e.locals[name] = cty.DynamicVal
	}
	for _, r := range m.resources {
		e.values[r.addr()] = cty.DynamicVal
	}
	// Every value again until none changes: a module is a graph, and
	// this needs no order.
	for pass := 0; ; pass++ {
		if pass == 30 {
			return nil, fmt.Errorf("%s: values still change after %d passes (a reference cycle?)", dir, pass)
		}
		e.errs = map[string]error{}
		changed := false
		set := func(old *cty.Value, v cty.Value) {
			if !old.RawEquals(v) {
				*old, changed = v, true
			}
		}
		ctx := e.ctx()
		for name, a := range m.locals {
			v, diags := a.Expr.Value(ctx)
			e.note("local."+name, diags)
			old := e.locals[name]
			set(&old, v)
			e.locals[name] = old
		}
		for _, r := range m.resources {
			v, err := e.resource(r, ctx)
			if err != nil {
				e.errs[r.addr()] = err
			}
			old := e.values[r.addr()]
			set(&old, v)
			e.values[r.addr()] = old
		}
		for name, b := range m.modules {
			if err := e.module(name, b, ctx); err != nil {
				e.errs["module."+name] = err
			}
		}
		if !changed && pass > 0 {
			break
		}
	}
	ctx := e.ctx()
	for name, b := range m.outputs {
		v, diags := b.Body.Attributes["value"].Expr.Value(ctx)
		e.note("output."+name, diags)
		e.outputs[name] = v
	}
	if len(e.errs) > 0 {
		var msgs []string
		for addr, err := range e.errs {
			msgs = append(msgs, fmt.Sprintf("%s: %v", addr, err))
		}
		sort.Strings(msgs)
		return nil, fmt.Errorf("%s does not evaluate:\n  %s", dir, strings.Join(msgs, "\n  "))
	}
	return e, nil
}

func (e *tfEval) note(addr string, diags hcl.Diagnostics) {
	if diags.HasErrors() {
		e.errs[addr] = diags
	}
}

// inputVariables applies the variables' types, optional() defaults and
// defaults to inputs; validations are checked separately (validate).
func (m *tfModule) inputVariables(inputs map[string]cty.Value) (map[string]cty.Value, error) {
	for name := range inputs {
		if _, ok := m.variables[name]; !ok {
			return nil, fmt.Errorf("%s has no variable %q", m.dir, name)
		}
	}
	vars := map[string]cty.Value{}
	for name, b := range m.variables {
		v, given := inputs[name]
		if !given {
			d, ok := b.Body.Attributes["default"]
			if !ok {
				return nil, fmt.Errorf("%s: variable %q has no default and no value was given", m.dir, name)
			}
			var diags hcl.Diagnostics
			if v, diags = d.Expr.Value(nil); diags.HasErrors() {
				return nil, diags
			}
		}
		if t, ok := b.Body.Attributes["type"]; ok {
			ty, defaults, diags := typeexpr.TypeConstraintWithDefaults(t.Expr)
			if diags.HasErrors() {
				return nil, diags
			}
			if defaults != nil {
				v = defaults.Apply(v)
			}
			cv, err := convert.Convert(v, ty)
			if err != nil {
				return nil, fmt.Errorf("%s: variable %q: %w", m.dir, name, err)
			}
			v = cv
		}
		vars[name] = v
	}
	return vars, nil
}

// validate returns the error messages of the variable's validations that
// fail for value (nil: every condition holds).
func (m *tfModule) validate(name string, value cty.Value) ([]string, error) {
	vars, err := m.inputVariables(map[string]cty.Value{name: value})
	if err != nil {
		return nil, err
	}
	ctx := &hcl.EvalContext{Variables: map[string]cty.Value{"var": cty.ObjectVal(vars)}, Functions: tfFunctions()}
	var failed []string
	for _, b := range m.variables[name].Body.Blocks {
		if b.Type != "validation" {
			continue
		}
		ok, diags := b.Body.Attributes["condition"].Expr.Value(ctx)
		if diags.HasErrors() {
			return nil, diags
		}
		if ok.False() {
			msg, _ := b.Body.Attributes["error_message"].Expr.Value(ctx)
			failed = append(failed, msg.AsString())
		}
	}
	return failed, nil
}

func (e *tfEval) ctx() *hcl.EvalContext {
	vars := map[string]cty.Value{
		"var":   cty.ObjectVal(e.vars),
		"local": cty.ObjectVal(e.locals),
		"path":  cty.ObjectVal(map[string]cty.Value{"module": cty.StringVal(e.m.dir), "root": cty.StringVal(e.m.dir)}),
	}
	byType := map[string]map[string]cty.Value{}
	data := map[string]map[string]cty.Value{}
	for _, r := range e.m.resources {
		into := byType
		if r.data {
			into = data
		}
		if into[r.typ] == nil {
			into[r.typ] = map[string]cty.Value{}
		}
		into[r.typ][r.name] = e.values[r.addr()]
	}
	for typ, byName := range byType {
		vars[typ] = cty.ObjectVal(byName)
	}
	dataTypes := map[string]cty.Value{}
	for typ, byName := range data {
		dataTypes[typ] = cty.ObjectVal(byName)
	}
	vars["data"] = cty.ObjectVal(dataTypes)
	mods := map[string]cty.Value{}
	for name := range e.m.modules {
		mods[name] = cty.DynamicVal
		if c := e.modules[name]; c != nil {
			mods[name] = cty.ObjectVal(c.outputs)
		}
	}
	vars["module"] = cty.ObjectVal(mods)
	return &hcl.EvalContext{Variables: vars, Functions: tfFunctions()}
}

// module evaluates a module call once its inputs are known.
func (e *tfEval) module(name string, b *hclsyntax.Block, ctx *hcl.EvalContext) error {
	if e.modules[name] != nil {
		return nil
	}
	inputs := map[string]cty.Value{}
	var src string
	for k, a := range b.Body.Attributes {
		v, diags := a.Expr.Value(ctx)
		if diags.HasErrors() {
			return diags
		}
		switch k {
		case "source":
			src = v.AsString()
		case "version", "providers", "count", "for_each", "depends_on":
			return fmt.Errorf("module %s: %q is not supported by the evaluator", name, k)
		default:
			if !v.IsWhollyKnown() {
				return nil // later
			}
			inputs[k] = v
		}
	}
	c, err := evalModule(filepath.Join(e.m.dir, src), inputs, e.region)
	if err != nil {
		return err
	}
	e.modules[name] = c
	return nil
}

// resource evaluates every instance of r.
func (e *tfEval) resource(r *tfResource, ctx *hcl.EvalContext) (cty.Value, error) {
	if r.data {
		return e.dataSource(r)
	}
	if a, ok := r.body.Attributes["count"]; ok {
		n, diags := a.Expr.Value(ctx)
		if diags.HasErrors() {
			return cty.DynamicVal, diags
		}
		if !n.IsKnown() {
			return cty.DynamicVal, nil
		}
		var count int
		if err := gocty(n, &count); err != nil {
			return cty.DynamicVal, err
		}
		var insts []cty.Value
		for i := 0; i < count; i++ {
			c := ctx.NewChild()
			c.Variables = map[string]cty.Value{"count": cty.ObjectVal(map[string]cty.Value{"index": cty.NumberIntVal(int64(i))})}
			v, err := e.instance(r, c)
			if err != nil {
				return cty.DynamicVal, err
			}
			insts = append(insts, v)
		}
		return cty.TupleVal(insts), nil
	}
	if a, ok := r.body.Attributes["for_each"]; ok {
		fe, diags := a.Expr.Value(ctx)
		if diags.HasErrors() {
			return cty.DynamicVal, diags
		}
		if !fe.IsWhollyKnown() {
			return cty.DynamicVal, nil
		}
		insts := map[string]cty.Value{}
		for it := fe.ElementIterator(); it.Next(); {
			k, v := it.Element()
			if fe.Type().IsSetType() {
				k = v
			}
			c := ctx.NewChild()
			c.Variables = map[string]cty.Value{"each": cty.ObjectVal(map[string]cty.Value{"key": k, "value": v})}
			inst, err := e.instance(r, c)
			if err != nil {
				return cty.DynamicVal, fmt.Errorf("[%q]: %w", k.AsString(), err)
			}
			insts[k.AsString()] = inst
		}
		return cty.ObjectVal(insts), nil
	}
	return e.instance(r, ctx)
}

func (e *tfEval) instance(r *tfResource, ctx *hcl.EvalContext) (cty.Value, error) {
	attrs, diags := evalBody(r.body, ctx)
	if diags.HasErrors() {
		return cty.DynamicVal, diags
	}
	for k, v := range e.computed(r.typ, attrs) {
		if _, set := attrs[k]; !set {
			attrs[k] = v
		}
	}
	return cty.ObjectVal(attrs), nil
}

// evalBody evaluates a block's arguments and nested blocks (a tuple of
// objects per block type, dynamic blocks expanded); meta-arguments are
// left out.
func evalBody(body *hclsyntax.Body, ctx *hcl.EvalContext) (map[string]cty.Value, hcl.Diagnostics) {
	out := map[string]cty.Value{}
	var all hcl.Diagnostics
	for name, a := range body.Attributes {
		switch name {
		case "count", "for_each", "depends_on", "provider":
			continue
		}
		v, diags := a.Expr.Value(ctx)
		all = append(all, diags...)
		out[name] = v
	}
	blocks := map[string][]cty.Value{}
	var order []string
	add := func(typ string, v cty.Value) {
		if _, ok := blocks[typ]; !ok {
			order = append(order, typ)
		}
		blocks[typ] = append(blocks[typ], v)
	}
	for _, b := range body.Blocks {
		switch b.Type {
		case "lifecycle", "provisioner", "connection":
			continue
		case "dynamic":
			fe, diags := b.Body.Attributes["for_each"].Expr.Value(ctx)
			all = append(all, diags...)
			if diags.HasErrors() || !fe.IsWhollyKnown() {
				continue
			}
			iter := b.Labels[0]
			if a, ok := b.Body.Attributes["iterator"]; ok {
				iter = hcl.ExprAsKeyword(a.Expr)
			}
			if _, ok := blocks[b.Labels[0]]; !ok {
				order = append(order, b.Labels[0])
				blocks[b.Labels[0]] = nil
			}
			for it := fe.ElementIterator(); it.Next(); {
				k, v := it.Element()
				c := ctx.NewChild()
				c.Variables = map[string]cty.Value{iter: cty.ObjectVal(map[string]cty.Value{"key": k, "value": v})}
				for _, content := range b.Body.Blocks {
					inner, diags := evalBody(content.Body, c)
					all = append(all, diags...)
					add(b.Labels[0], cty.ObjectVal(inner))
				}
			}
		default:
			inner, diags := evalBody(b.Body, ctx)
			all = append(all, diags...)
			add(b.Type, cty.ObjectVal(inner))
		}
	}
	for _, typ := range order {
		if len(blocks[typ]) == 0 {
			out[typ] = cty.EmptyTupleVal
		} else {
			out[typ] = cty.TupleVal(blocks[typ])
		}
	}
	return out, all
}

// dataSource answers the data sources Ferry's module reads, as the
// provider would in account tfAccount.
func (e *tfEval) dataSource(r *tfResource) (cty.Value, error) {
	switch r.typ {
	case "aws_caller_identity":
		return cty.ObjectVal(map[string]cty.Value{"account_id": cty.StringVal(tfAccount), "id": cty.StringVal(tfAccount)}), nil
	case "aws_region":
		return cty.ObjectVal(map[string]cty.Value{"id": cty.StringVal(e.region), "name": cty.StringVal(e.region), "region": cty.StringVal(e.region)}), nil
	case "aws_partition":
		return cty.ObjectVal(map[string]cty.Value{"partition": cty.StringVal("aws"), "dns_suffix": cty.StringVal("amazonaws.com")}), nil
	}
	return cty.DynamicVal, fmt.Errorf("data source %s is not known to the evaluator: write policies with jsonencode, or teach deploy/tfeval_test.go", r.typ)
}

// computed returns the attributes AWS computes for a resource of typ,
// from its arguments, in the formats AWS documents for its ARNs and URLs.
func (e *tfEval) computed(typ string, args map[string]cty.Value) map[string]cty.Value {
	arg := func(name string) (string, bool) {
		v, ok := args[name]
		if !ok || !v.IsKnown() || v.IsNull() || !v.Type().Equals(cty.String) {
			return "", false
		}
		return v.AsString(), true
	}
	s := cty.StringVal
	region, acct := e.region, tfAccount
	out := map[string]cty.Value{"id": cty.UnknownVal(cty.String), "arn": cty.UnknownVal(cty.String)}
	switch typ {
	case "aws_s3_bucket":
		if b, ok := arg("bucket"); ok {
			out["id"], out["arn"] = s(b), s("arn:aws:s3:::"+b)
		}
	case "aws_sqs_queue":
		if n, ok := arg("name"); ok {
			url := fmt.Sprintf("https://sqs.%s.amazonaws.com/%s/%s", region, acct, n)
			out["id"], out["url"], out["arn"] = s(url), s(url), s(fmt.Sprintf("arn:aws:sqs:%s:%s:%s", region, acct, n))
		}
	case "aws_sns_topic":
		if n, ok := arg("name"); ok {
			arn := fmt.Sprintf("arn:aws:sns:%s:%s:%s", region, acct, n)
			out["id"], out["arn"] = s(arn), s(arn)
		}
	case "aws_dynamodb_table":
		if n, ok := arg("name"); ok {
			out["id"], out["arn"] = s(n), s(fmt.Sprintf("arn:aws:dynamodb:%s:%s:table/%s", region, acct, n))
		}
	case "aws_kms_key":
		id := "1234abcd-12ab-34cd-56ef-1234567890ab" // AWS's documentation example
		out["id"], out["key_id"], out["arn"] = s(id), s(id), s(fmt.Sprintf("arn:aws:kms:%s:%s:key/%s", region, acct, id))
	case "aws_kms_alias":
		if n, ok := arg("name"); ok {
			out["id"], out["arn"] = s(n), s(fmt.Sprintf("arn:aws:kms:%s:%s:%s", region, acct, n))
		}
	case "aws_iam_role":
		if n, ok := arg("name"); ok {
			out["id"], out["arn"] = s(n), s(fmt.Sprintf("arn:aws:iam::%s:role/%s", acct, n))
		}
	case "aws_cloudwatch_log_group":
		if n, ok := arg("name"); ok {
			out["id"], out["arn"] = s(n), s(fmt.Sprintf("arn:aws:logs:%s:%s:log-group:%s", region, acct, n))
		}
	case "aws_cloudwatch_event_rule":
		if n, ok := arg("name"); ok {
			out["id"], out["arn"] = s(n), s(fmt.Sprintf("arn:aws:events:%s:%s:rule/%s", region, acct, n))
		}
	case "aws_transfer_server":
		id := "s-0123456789abcdef0"
		out["id"], out["arn"] = s(id), s(fmt.Sprintf("arn:aws:transfer:%s:%s:server/%s", region, acct, id))
		out["endpoint"] = s(fmt.Sprintf("%s.server.transfer.%s.amazonaws.com", id, region))
	case "aws_transfer_user":
		if u, ok := arg("user_name"); ok {
			out["id"] = s(u)
		}
	case "aws_cloudtrail":
		if n, ok := arg("name"); ok {
			out["id"], out["arn"] = s(n), s(fmt.Sprintf("arn:aws:cloudtrail:%s:%s:trail/%s", region, acct, n))
		}
	}
	return out
}

// tfFunctions are the Terraform functions the module uses, from cty's
// standard library (Terraform's own are these) and HCL's try and can.
func tfFunctions() map[string]function.Function {
	return map[string]function.Function{
		"alltrue":    allTrueFunc,
		"can":        tryfunc.CanFunc,
		"coalesce":   stdlib.CoalesceFunc,
		"concat":     stdlib.ConcatFunc,
		"contains":   stdlib.ContainsFunc,
		"flatten":    stdlib.FlattenFunc,
		"format":     stdlib.FormatFunc,
		"jsonencode": stdlib.JSONEncodeFunc,
		"keys":       stdlib.KeysFunc,
		"length":     stdlib.LengthFunc,
		"lookup":     stdlib.LookupFunc,
		"merge":      stdlib.MergeFunc,
		"regex":      stdlib.RegexFunc,
		"toset":      stdlib.MakeToFunc(cty.Set(cty.DynamicPseudoType)),
		"tostring":   stdlib.MakeToFunc(cty.String),
		"trimprefix": stdlib.TrimPrefixFunc,
		"try":        tryfunc.TryFunc,
		"values":     stdlib.ValuesFunc,
	}
}

// allTrueFunc is Terraform's alltrue: true when every element is true.
var allTrueFunc = function.New(&function.Spec{
	Params: []function.Parameter{{Name: "list", Type: cty.List(cty.Bool)}},
	Type:   function.StaticReturnType(cty.Bool),
	Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
		for it := args[0].ElementIterator(); it.Next(); {
			_, v := it.Element()
			if !v.IsKnown() {
				return cty.UnknownVal(cty.Bool), nil
			}
			if v.IsNull() || v.False() {
				return cty.False, nil
			}
		}
		return cty.True, nil
	},
})

// goValue turns a wholly known cty value into plain Go values (string,
// float64, bool, []any, map[string]any, nil), naming the first unknown.
func goValue(v cty.Value) (any, error) {
	switch {
	case !v.IsKnown():
		return nil, errors.New("value not known without AWS")
	case v.IsNull():
		return nil, nil
	}
	ty := v.Type()
	switch {
	case ty == cty.String:
		return v.AsString(), nil
	case ty == cty.Bool:
		return v.True(), nil
	case ty == cty.Number:
		f, _ := v.AsBigFloat().Float64()
		return f, nil
	case ty.IsListType() || ty.IsTupleType() || ty.IsSetType():
		out := []any{}
		for i, it := 0, v.ElementIterator(); it.Next(); i++ {
			_, ev := it.Element()
			g, err := goValue(ev)
			if err != nil {
				return nil, fmt.Errorf("[%d]: %w", i, err)
			}
			out = append(out, g)
		}
		return out, nil
	case ty.IsMapType() || ty.IsObjectType():
		out := map[string]any{}
		for it := v.ElementIterator(); it.Next(); {
			k, ev := it.Element()
			g, err := goValue(ev)
			if err != nil {
				return nil, fmt.Errorf(".%s: %w", k.AsString(), err)
			}
			out[k.AsString()] = g
		}
		return out, nil
	}
	return nil, fmt.Errorf("cannot convert %s", ty.FriendlyName())
}

// gocty converts a known number into an int.
func gocty(v cty.Value, into *int) error {
	if !v.Type().Equals(cty.Number) || v.IsNull() {
		return fmt.Errorf("count must be a number, got %s", v.Type().FriendlyName())
	}
	i, acc := v.AsBigFloat().Int64()
	if acc != 0 {
		return fmt.Errorf("count must be a whole number")
	}
	*into = int(i)
	return nil
}
