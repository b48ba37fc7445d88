// Package bitfield records which blocks of a feed are present.
//
// A reader may hold any sparse subset of a feed, at indexes up to 2^64, so
// the set is kept as fixed-size pages of bits allocated only where some bit
// is set.
package bitfield

import (
	"math/bits"
	"slices"

	"github.com/codrive/codrive/sdk"
)

const (
	wordsPerPage = 512 // 4 KiB of bits per page
	bitsPerPage  = wordsPerPage * 64
)

type page [wordsPerPage]uint64

// Bitfield is a sparse set of block indexes. The zero value is empty and
// ready to use. It is not safe for concurrent use.
type Bitfield struct {
	pages map[uint64]*page
}

// FromRanges returns a bitfield holding the given ranges.
func FromRanges(ranges []sdk.Range) *Bitfield {
	b := &Bitfield{}
	for _, r := range ranges {
		b.SetRange(r.Start, r.End, true)
	}
	return b
}

// Get reports whether index i is set.
func (b *Bitfield) Get(i uint64) bool {
	p := b.pages[i/bitsPerPage]
	if p == nil {
		return false
	}
	o := i % bitsPerPage
	return p[o/64]&(1<<(o%64)) != 0
}

// Set sets or clears index i.
func (b *Bitfield) Set(i uint64, v bool) {
	b.SetRange(i, i+1, v)
}

// SetRange sets or clears every index in [start, end).
func (b *Bitfield) SetRange(start, end uint64, v bool) {
	if start >= end {
		return
	}
	if !v {
		b.clearRange(start, end)
		return
	}
	if b.pages == nil {
		b.pages = make(map[uint64]*page)
	}
	for start < end {
		pn := start / bitsPerPage
		base := pn * bitsPerPage
		to := uint64(bitsPerPage)
		if end-base < to {
			to = end - base
		}
		p := b.pages[pn]
		if p == nil {
			p = new(page)
			b.pages[pn] = p
		}
		setBits(p, start-base, to, true)
		if base+to < base { // reached 2^64
			return
		}
		start = base + to
	}
}

// clearRange visits only allocated pages, so clearing up to 2^64 (as a
// truncation does) costs nothing for the empty space.
func (b *Bitfield) clearRange(start, end uint64) {
	first, last := start/bitsPerPage, (end-1)/bitsPerPage
	for pn, p := range b.pages {
		if pn < first || pn > last {
			continue
		}
		base := pn * bitsPerPage
		from := uint64(0)
		if start > base {
			from = start - base
		}
		to := uint64(bitsPerPage)
		if end-base < to {
			to = end - base
		}
		setBits(p, from, to, false)
		if p.empty() {
			delete(b.pages, pn) // deleting while ranging over a map is allowed
		}
	}
}

// setBits sets or clears the bits [from, to) of one page.
func setBits(p *page, from, to uint64, v bool) {
	for from < to {
		w := from / 64
		lo := from % 64
		hi := uint64(64)
		if (w+1)*64 > to {
			hi = to - w*64
		}
		mask := (^uint64(0) >> (64 - (hi - lo))) << lo
		if v {
			p[w] |= mask
		} else {
			p[w] &^= mask
		}
		from = w*64 + hi
	}
}

func (p *page) empty() bool {
	for _, w := range p {
		if w != 0 {
			return false
		}
	}
	return true
}

// HasRange reports whether every index in [start, end) is set.
func (b *Bitfield) HasRange(start, end uint64) bool {
	if start >= end {
		return true
	}
	next, ok := b.NextClear(start)
	return !ok || next >= end
}

// NextSet returns the smallest set index at or above i.
func (b *Bitfield) NextSet(i uint64) (uint64, bool) {
	return b.next(i, true)
}

// NextClear returns the smallest clear index at or above i. It fails only
// when every index from i to 2^64-1 is set.
func (b *Bitfield) NextClear(i uint64) (uint64, bool) {
	return b.next(i, false)
}

func (b *Bitfield) next(i uint64, want bool) (uint64, bool) {
	pn := i / bitsPerPage
	for {
		p := b.pages[pn]
		if p == nil {
			if !want {
				return i, true
			}
			// Jump to the next allocated page rather than walking 2^64 bits.
			nextPage, ok := b.nextPage(pn)
			if !ok {
				return 0, false
			}
			pn, i = nextPage, nextPage*bitsPerPage
			continue
		}
		o := i % bitsPerPage
		for w := o / 64; w < wordsPerPage; w++ {
			word := p[w]
			if !want {
				word = ^word
			}
			if w == o/64 {
				word &= ^uint64(0) << (o % 64)
			}
			if word != 0 {
				return pn*bitsPerPage + w*64 + uint64(bits.TrailingZeros64(word)), true
			}
		}
		if pn == (^uint64(0))/bitsPerPage {
			return 0, false
		}
		pn++
		i = pn * bitsPerPage
	}
}

// nextPage returns the smallest allocated page number above pn.
func (b *Bitfield) nextPage(pn uint64) (uint64, bool) {
	best, found := uint64(0), false
	for n := range b.pages {
		if n > pn && (!found || n < best) {
			best, found = n, true
		}
	}
	return best, found
}

// Ranges returns the set indexes as sorted, disjoint, non-adjacent ranges.
func (b *Bitfield) Ranges() []sdk.Range {
	pns := make([]uint64, 0, len(b.pages))
	for pn := range b.pages {
		pns = append(pns, pn)
	}
	slices.Sort(pns)
	var out []sdk.Range
	for _, pn := range pns {
		p := b.pages[pn]
		base := pn * bitsPerPage
		for w, word := range p {
			for word != 0 {
				lo := uint64(bits.TrailingZeros64(word))
				run := uint64(bits.TrailingZeros64(^(word >> lo)))
				start := base + uint64(w)*64 + lo
				end := start + run
				if n := len(out); n > 0 && out[n-1].End == start {
					out[n-1].End = end
				} else {
					out = append(out, sdk.Range{Start: start, End: end})
				}
				if lo+run == 64 {
					break
				}
				word &^= (^uint64(0) >> (64 - run)) << lo
			}
		}
	}
	return out
}
