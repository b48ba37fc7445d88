package main

import (
	"encoding/json"
	"fmt"
	"io"
)

// result is one figure of a benchmark. Names have the form
// <bench>/<case>/..., such as append/memory/batch100.
type result struct {
	Name  string  `json:"name"`
	Value float64 `json:"value"`
	Unit  string  `json:"unit"`
}

// reporter prints results as they come: a table for people or, with JSON
// set, one JSON object per line for machines.
type reporter struct {
	w    io.Writer
	json bool
}

// tableFormat keeps columns aligned while rows print one at a time.
const tableFormat = "%-40s %14s  %s\n"

func newReporter(w io.Writer, asJSON bool) *reporter {
	if !asJSON {
		fmt.Fprintf(w, tableFormat, "NAME", "VALUE", "UNIT")
	}
	return &reporter{w: w, json: asJSON}
}

func (r *reporter) add(name string, value float64, unit string) {
	if r.json {
		b, _ := json.Marshal(result{Name: name, Value: value, Unit: unit})
		fmt.Fprintf(r.w, "%s\n", b)
		return
	}
	v := fmt.Sprintf("%.1f", value)
	if unit == "ratio" {
		v = fmt.Sprintf("%.2f", value)
	}
	fmt.Fprintf(r.w, tableFormat, name, v, unit)
}
