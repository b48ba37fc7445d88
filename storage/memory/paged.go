package memory

// pageBits sets the page size. 64 slots make one uint64 bitmap per page and
// keep a sparse feed small: a block page holds 64 slice headers (1.5 KiB), a
// node page 64 nodes (3 KiB).
const (
	pageBits = 6
	pageSize = 1 << pageBits
	slotMask = pageSize - 1
)

// page holds the entries at indexes [n·pageSize, (n+1)·pageSize) of a
// pagedArray.
type page[T any] struct {
	used  uint64 // bit k set: slots[k] holds an entry
	slots [pageSize]T
}

// pagedArray maps uint64 indexes to values. It costs a map lookup per page
// rather than per entry, and only the pages that hold an entry exist, so a
// few entries at index 1<<40 take a few KiB.
type pagedArray[T any] struct {
	pages map[uint64]*page[T]
	// limit is above the number of every page in pages. It bounds the scan
	// in truncate for dense arrays; it is not lowered when pages empty out
	// through delete.
	limit uint64
}

// get returns the entry at index i.
func (a *pagedArray[T]) get(i uint64) (v T, ok bool) {
	p := a.pages[i>>pageBits]
	if p == nil || p.used&(1<<(i&slotMask)) == 0 {
		return v, false
	}
	return p.slots[i&slotMask], true
}

// set stores v at index i, replacing any entry there.
func (a *pagedArray[T]) set(i uint64, v T) {
	n := i >> pageBits
	p := a.pages[n]
	if p == nil {
		if a.pages == nil {
			a.pages = make(map[uint64]*page[T])
		}
		p = new(page[T])
		a.pages[n] = p
		a.limit = max(a.limit, n+1)
	}
	p.slots[i&slotMask] = v
	p.used |= 1 << (i & slotMask)
}

// delete removes the entry at index i, if any.
func (a *pagedArray[T]) delete(i uint64) {
	n := i >> pageBits
	p := a.pages[n]
	if p == nil {
		return
	}
	k := i & slotMask
	var zero T
	p.slots[k] = zero // drop the reference, so that the GC frees block data
	p.used &^= 1 << k
	if p.used == 0 {
		delete(a.pages, n)
	}
}

// truncate removes every entry at index from or above.
func (a *pagedArray[T]) truncate(from uint64) {
	first := from >> pageBits
	if first >= a.limit {
		return
	}
	if p := a.pages[first]; p != nil {
		k := from & slotMask
		clear(p.slots[k:])
		p.used &= 1<<k - 1
		if p.used == 0 {
			delete(a.pages, first)
		}
	}
	// Every later page goes. Walk whichever is shorter: the page numbers up
	// to limit (a dense array) or the map itself (a sparse one).
	if uint64(len(a.pages)) < a.limit-first {
		for n := range a.pages {
			if n > first {
				delete(a.pages, n)
			}
		}
	} else {
		for n := first + 1; n < a.limit; n++ {
			delete(a.pages, n)
		}
	}
	a.limit = first + 1
}
