//! `Array.prototype.sort` as V8 runs it (`third_party/v8/builtins/array-sort.tq`): CPython's
//! TimSort with galloping. Checked against Node 20 for every field, both orders, on the whole
//! catalogue, each category and a search. With a consistent comparator any stable sort gives the
//! same order; `sortArray`'s comparator is not consistent when values are missing or are
//! arrays/objects (it answers -1 both ways), and then only this exact algorithm reproduces
//! the server's order. Arrays shorter than 2 are left alone; runs shorter than the minimum
//! run length are extended by binary insertion.

/// Galloping starts after this many consecutive wins of one run.
const MIN_GALLOP: usize = 7;

pub(super) fn sort<T: Copy>(items: &mut [T], compare: impl FnMut(T, T) -> i8) {
    let n = items.len();
    if n < 2 {
        return;
    }
    let mut state = TimSort {
        a: items,
        compare,
        min_gallop: MIN_GALLOP,
        runs: Vec::new(),
    };
    let min_run = min_run_length(n);
    let mut low = 0;
    let mut remaining = n;
    while remaining != 0 {
        let mut run = state.count_and_make_run(low, low + remaining);
        if run < min_run {
            let forced = min_run.min(remaining);
            state.binary_insertion_sort(low, low + run, low + forced);
            run = forced;
        }
        state.runs.push((low, run));
        state.merge_collapse();
        low += run;
        remaining -= run;
    }
    state.merge_force_collapse();
}

/// `n` below 64 is one run; otherwise a length in 32..=64 that splits `n` into close to
/// a power of two runs.
fn min_run_length(mut n: usize) -> usize {
    let mut r = 0;
    while n >= 64 {
        r |= n & 1;
        n >>= 1;
    }
    n + r
}

struct TimSort<'a, T, F> {
    a: &'a mut [T],
    compare: F,
    min_gallop: usize,
    /// Pending runs: (base, length).
    runs: Vec<(usize, usize)>,
}

enum MergeEnd {
    /// What is left of the temporary copy goes to the destination.
    Done,
    /// One element of the temporary copy is left and belongs at the far end.
    LastFromTemp,
}

impl<T: Copy, F: FnMut(T, T) -> i8> TimSort<'_, T, F> {
    fn cmp(&mut self, x: T, y: T) -> i8 {
        (self.compare)(x, y)
    }

    /// Sorts `[low, high)` given that `[low, start)` is sorted.
    fn binary_insertion_sort(&mut self, low: usize, start: usize, high: usize) {
        let mut start = if low == start { start + 1 } else { start };
        while start < high {
            let pivot = self.a[start];
            let (mut left, mut right) = (low, start);
            while left < right {
                let mid = left + ((right - left) >> 1);
                if self.cmp(pivot, self.a[mid]) < 0 {
                    right = mid;
                } else {
                    left = mid + 1;
                }
            }
            self.a.copy_within(left..start, left + 1);
            self.a[left] = pivot;
            start += 1;
        }
    }

    /// The length of the run at `low` (non-descending, or strictly descending and then
    /// reversed).
    fn count_and_make_run(&mut self, low: usize, high: usize) -> usize {
        let next = low + 1;
        if next == high {
            return 1;
        }
        let mut run = 2;
        let descending = self.cmp(self.a[next], self.a[low]) < 0;
        let mut previous = self.a[next];
        for idx in next + 1..high {
            let current = self.a[idx];
            let order = self.cmp(current, previous);
            if (descending && order >= 0) || (!descending && order < 0) {
                break;
            }
            previous = current;
            run += 1;
        }
        if descending {
            self.a[low..low + run].reverse();
        }
        run
    }

    fn merge_collapse(&mut self) {
        while self.runs.len() > 1 {
            let mut n = self.runs.len() - 2;
            if !self.invariant_holds(n + 1) || !self.invariant_holds(n) {
                if self.runs[n - 1].1 < self.runs[n + 1].1 {
                    n -= 1;
                }
                self.merge_at(n);
            } else if self.runs[n].1 <= self.runs[n + 1].1 {
                self.merge_at(n);
            } else {
                break;
            }
        }
    }

    /// `len(n - 2) > len(n - 1) + len(n)`.
    fn invariant_holds(&self, n: usize) -> bool {
        n < 2 || self.runs[n - 2].1 > self.runs[n - 1].1 + self.runs[n].1
    }

    fn merge_force_collapse(&mut self) {
        while self.runs.len() > 1 {
            let mut n = self.runs.len() - 2;
            if n > 0 && self.runs[n - 1].1 < self.runs[n + 1].1 {
                n -= 1;
            }
            self.merge_at(n);
        }
    }

    fn merge_at(&mut self, i: usize) {
        let (mut base_a, mut len_a) = self.runs[i];
        let (base_b, mut len_b) = self.runs[i + 1];
        self.runs[i].1 = len_a + len_b;
        self.runs.remove(i + 1);

        let key = self.a[base_b];
        let k = self.gallop_right(Source::Array, key, base_a, len_a, 0);
        base_a += k;
        len_a -= k;
        if len_a == 0 {
            return;
        }
        let key = self.a[base_a + len_a - 1];
        len_b = self.gallop_left(Source::Array, key, base_b, len_b, len_b - 1);
        if len_b == 0 {
            return;
        }
        let temp = if len_a <= len_b {
            self.a[base_a..base_a + len_a].to_vec()
        } else {
            self.a[base_b..base_b + len_b].to_vec()
        };
        if len_a <= len_b {
            self.merge_low(temp, base_a, len_a, base_b, len_b);
        } else {
            self.merge_high(temp, base_a, len_a, base_b, len_b);
        }
    }

    fn at(&self, source: Source<'_, T>, index: usize) -> T {
        match source {
            Source::Array => self.a[index],
            Source::Temp(temp) => temp[index],
        }
    }

    /// Where `key` goes in the sorted `[base, base + length)`: left of any equal ones.
    fn gallop_left(
        &mut self,
        source: Source<'_, T>,
        key: T,
        base: usize,
        length: usize,
        hint: usize,
    ) -> usize {
        let (hint_i, len_i) = (hint as isize, length as isize);
        let (mut last_ofs, mut ofs): (isize, isize) = (0, 1);
        let at_hint = self.at(source, base + hint);
        if self.cmp(at_hint, key) < 0 {
            let max_ofs = len_i - hint_i;
            while ofs < max_ofs {
                let x = self.at(source, (base as isize + hint_i + ofs) as usize);
                if self.cmp(x, key) >= 0 {
                    break;
                }
                last_ofs = ofs;
                ofs = (ofs << 1) + 1;
            }
            ofs = ofs.min(max_ofs);
            last_ofs += hint_i;
            ofs += hint_i;
        } else {
            let max_ofs = hint_i + 1;
            while ofs < max_ofs {
                let x = self.at(source, (base as isize + hint_i - ofs) as usize);
                if self.cmp(x, key) < 0 {
                    break;
                }
                last_ofs = ofs;
                ofs = (ofs << 1) + 1;
            }
            ofs = ofs.min(max_ofs);
            let tmp = last_ofs;
            last_ofs = hint_i - ofs;
            ofs = hint_i - tmp;
        }
        last_ofs += 1;
        while last_ofs < ofs {
            let m = last_ofs + ((ofs - last_ofs) >> 1);
            let x = self.at(source, (base as isize + m) as usize);
            if self.cmp(x, key) < 0 {
                last_ofs = m + 1;
            } else {
                ofs = m;
            }
        }
        ofs as usize
    }

    /// Where `key` goes in the sorted `[base, base + length)`: right of any equal ones.
    fn gallop_right(
        &mut self,
        source: Source<'_, T>,
        key: T,
        base: usize,
        length: usize,
        hint: usize,
    ) -> usize {
        let (hint_i, len_i) = (hint as isize, length as isize);
        let (mut last_ofs, mut ofs): (isize, isize) = (0, 1);
        let at_hint = self.at(source, base + hint);
        if self.cmp(key, at_hint) < 0 {
            let max_ofs = hint_i + 1;
            while ofs < max_ofs {
                let x = self.at(source, (base as isize + hint_i - ofs) as usize);
                if self.cmp(key, x) >= 0 {
                    break;
                }
                last_ofs = ofs;
                ofs = (ofs << 1) + 1;
            }
            ofs = ofs.min(max_ofs);
            let tmp = last_ofs;
            last_ofs = hint_i - ofs;
            ofs = hint_i - tmp;
        } else {
            let max_ofs = len_i - hint_i;
            while ofs < max_ofs {
                let x = self.at(source, (base as isize + hint_i + ofs) as usize);
                if self.cmp(key, x) < 0 {
                    break;
                }
                last_ofs = ofs;
                ofs = (ofs << 1) + 1;
            }
            ofs = ofs.min(max_ofs);
            last_ofs += hint_i;
            ofs += hint_i;
        }
        last_ofs += 1;
        while last_ofs < ofs {
            let m = last_ofs + ((ofs - last_ofs) >> 1);
            let x = self.at(source, (base as isize + m) as usize);
            if self.cmp(key, x) < 0 {
                ofs = m;
            } else {
                last_ofs = m + 1;
            }
        }
        ofs as usize
    }

    /// Merges run A (`temp`, a copy of `[base_a, base_a + len_a)`) with run B, front to
    /// back; `len_a <= len_b`.
    fn merge_low(
        &mut self,
        temp: Vec<T>,
        base_a: usize,
        mut len_a: usize,
        base_b: usize,
        mut len_b: usize,
    ) {
        let mut dest = base_a;
        let mut cursor_temp = 0;
        let mut cursor_b = base_b;
        self.a[dest] = self.a[cursor_b];
        dest += 1;
        cursor_b += 1;

        let end = 'merge: {
            len_b -= 1;
            if len_b == 0 {
                break 'merge MergeEnd::Done;
            }
            if len_a == 1 {
                break 'merge MergeEnd::LastFromTemp;
            }
            let mut min_gallop = self.min_gallop;
            loop {
                let mut wins_a = 0;
                let mut wins_b = 0;
                loop {
                    if self.cmp(self.a[cursor_b], temp[cursor_temp]) < 0 {
                        self.a[dest] = self.a[cursor_b];
                        dest += 1;
                        cursor_b += 1;
                        wins_b += 1;
                        len_b -= 1;
                        wins_a = 0;
                        if len_b == 0 {
                            break 'merge MergeEnd::Done;
                        }
                        if wins_b >= min_gallop {
                            break;
                        }
                    } else {
                        self.a[dest] = temp[cursor_temp];
                        dest += 1;
                        cursor_temp += 1;
                        wins_a += 1;
                        len_a -= 1;
                        wins_b = 0;
                        if len_a == 1 {
                            break 'merge MergeEnd::LastFromTemp;
                        }
                        if wins_a >= min_gallop {
                            break;
                        }
                    }
                }

                min_gallop += 1;
                let mut first = true;
                while wins_a >= MIN_GALLOP || wins_b >= MIN_GALLOP || first {
                    first = false;
                    min_gallop = min_gallop.saturating_sub(1).max(1);
                    self.min_gallop = min_gallop;

                    let key = self.a[cursor_b];
                    wins_a = self.gallop_right(Source::Temp(&temp), key, cursor_temp, len_a, 0);
                    if wins_a > 0 {
                        self.a[dest..dest + wins_a]
                            .copy_from_slice(&temp[cursor_temp..cursor_temp + wins_a]);
                        dest += wins_a;
                        cursor_temp += wins_a;
                        len_a -= wins_a;
                        if len_a == 1 {
                            break 'merge MergeEnd::LastFromTemp;
                        }
                        // Impossible with a consistent comparator; this one may not be.
                        if len_a == 0 {
                            break 'merge MergeEnd::Done;
                        }
                    }
                    self.a[dest] = self.a[cursor_b];
                    dest += 1;
                    cursor_b += 1;
                    len_b -= 1;
                    if len_b == 0 {
                        break 'merge MergeEnd::Done;
                    }

                    let key = temp[cursor_temp];
                    wins_b = self.gallop_left(Source::Array, key, cursor_b, len_b, 0);
                    if wins_b > 0 {
                        self.a.copy_within(cursor_b..cursor_b + wins_b, dest);
                        dest += wins_b;
                        cursor_b += wins_b;
                        len_b -= wins_b;
                        if len_b == 0 {
                            break 'merge MergeEnd::Done;
                        }
                    }
                    self.a[dest] = temp[cursor_temp];
                    dest += 1;
                    cursor_temp += 1;
                    len_a -= 1;
                    if len_a == 1 {
                        break 'merge MergeEnd::LastFromTemp;
                    }
                }
                min_gallop += 1;
                self.min_gallop = min_gallop;
            }
        };

        match end {
            MergeEnd::Done => {
                if len_a > 0 {
                    self.a[dest..dest + len_a]
                        .copy_from_slice(&temp[cursor_temp..cursor_temp + len_a]);
                }
            }
            MergeEnd::LastFromTemp => {
                self.a.copy_within(cursor_b..cursor_b + len_b, dest);
                self.a[dest + len_b] = temp[cursor_temp];
            }
        }
    }

    /// Merges run A with run B (`temp`, a copy of `[base_b, base_b + len_b)`), back to
    /// front; `len_a > len_b`.
    fn merge_high(
        &mut self,
        temp: Vec<T>,
        base_a: usize,
        mut len_a: usize,
        base_b: usize,
        mut len_b: usize,
    ) {
        // Cursors may step one below their run's start, hence signed.
        let mut dest = (base_b + len_b - 1) as isize;
        let mut cursor_temp = len_b as isize - 1;
        let mut cursor_a = (base_a + len_a - 1) as isize;
        self.a[dest as usize] = self.a[cursor_a as usize];
        dest -= 1;
        cursor_a -= 1;

        let end = 'merge: {
            len_a -= 1;
            if len_a == 0 {
                break 'merge MergeEnd::Done;
            }
            if len_b == 1 {
                break 'merge MergeEnd::LastFromTemp;
            }
            let mut min_gallop = self.min_gallop;
            loop {
                let mut wins_a = 0;
                let mut wins_b = 0;
                loop {
                    if self.cmp(temp[cursor_temp as usize], self.a[cursor_a as usize]) < 0 {
                        self.a[dest as usize] = self.a[cursor_a as usize];
                        dest -= 1;
                        cursor_a -= 1;
                        wins_a += 1;
                        len_a -= 1;
                        wins_b = 0;
                        if len_a == 0 {
                            break 'merge MergeEnd::Done;
                        }
                        if wins_a >= min_gallop {
                            break;
                        }
                    } else {
                        self.a[dest as usize] = temp[cursor_temp as usize];
                        dest -= 1;
                        cursor_temp -= 1;
                        wins_b += 1;
                        len_b -= 1;
                        wins_a = 0;
                        if len_b == 1 {
                            break 'merge MergeEnd::LastFromTemp;
                        }
                        if wins_b >= min_gallop {
                            break;
                        }
                    }
                }

                min_gallop += 1;
                let mut first = true;
                while wins_a >= MIN_GALLOP || wins_b >= MIN_GALLOP || first {
                    first = false;
                    min_gallop = min_gallop.saturating_sub(1).max(1);
                    self.min_gallop = min_gallop;

                    let key = temp[cursor_temp as usize];
                    let k = self.gallop_right(Source::Array, key, base_a, len_a, len_a - 1);
                    wins_a = len_a - k;
                    if wins_a > 0 {
                        dest -= wins_a as isize;
                        cursor_a -= wins_a as isize;
                        let from = (cursor_a + 1) as usize;
                        self.a.copy_within(from..from + wins_a, (dest + 1) as usize);
                        len_a -= wins_a;
                        if len_a == 0 {
                            break 'merge MergeEnd::Done;
                        }
                    }
                    self.a[dest as usize] = temp[cursor_temp as usize];
                    dest -= 1;
                    cursor_temp -= 1;
                    len_b -= 1;
                    if len_b == 1 {
                        break 'merge MergeEnd::LastFromTemp;
                    }

                    let key = self.a[cursor_a as usize];
                    let k = self.gallop_left(Source::Temp(&temp), key, 0, len_b, len_b - 1);
                    wins_b = len_b - k;
                    if wins_b > 0 {
                        dest -= wins_b as isize;
                        cursor_temp -= wins_b as isize;
                        let from = (cursor_temp + 1) as usize;
                        let to = (dest + 1) as usize;
                        self.a[to..to + wins_b].copy_from_slice(&temp[from..from + wins_b]);
                        len_b -= wins_b;
                        if len_b == 1 {
                            break 'merge MergeEnd::LastFromTemp;
                        }
                        // Impossible with a consistent comparator; this one may not be.
                        if len_b == 0 {
                            break 'merge MergeEnd::Done;
                        }
                    }
                    self.a[dest as usize] = self.a[cursor_a as usize];
                    dest -= 1;
                    cursor_a -= 1;
                    len_a -= 1;
                    if len_a == 0 {
                        break 'merge MergeEnd::Done;
                    }
                }
                min_gallop += 1;
                self.min_gallop = min_gallop;
            }
        };

        match end {
            MergeEnd::Done => {
                if len_b > 0 {
                    let to = (dest - (len_b as isize - 1)) as usize;
                    self.a[to..to + len_b].copy_from_slice(&temp[..len_b]);
                }
            }
            MergeEnd::LastFromTemp => {
                dest -= len_a as isize;
                cursor_a -= len_a as isize;
                let from = (cursor_a + 1) as usize;
                self.a.copy_within(from..from + len_a, (dest + 1) as usize);
                self.a[dest as usize] = temp[cursor_temp as usize];
            }
        }
    }
}

/// Which buffer a gallop searches.
#[derive(Clone, Copy)]
enum Source<'t, T> {
    Array,
    Temp(&'t [T]),
}

#[cfg(test)]
mod tests {
    use super::sort;

    /// A small deterministic generator, so the test needs no seed handling.
    fn lcg(state: &mut u64) -> u64 {
        *state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        *state >> 33
    }

    #[test]
    fn v8_sort_is_a_stable_sort_for_consistent_comparisons() {
        let mut seed = 7;
        for len in [0, 1, 2, 9, 10, 63, 64, 65, 194, 1000] {
            let items: Vec<(u64, usize)> = (0..len).map(|i| (lcg(&mut seed) % 13, i)).collect();
            let mut ours = items.clone();
            sort(&mut ours, |a, b| a.0.cmp(&b.0) as i8);
            let mut std = items;
            std.sort_by_key(|item| item.0);
            assert_eq!(ours, std, "len {len}");
        }
    }

    #[test]
    fn v8_sort_survives_inconsistent_comparisons() {
        let mut seed = 11;
        for len in [2, 5, 33, 64, 129, 194, 777] {
            for _ in 0..20 {
                let mut items: Vec<usize> = (0..len).collect();
                let mut answers = seed;
                sort(&mut items, |_, _| (lcg(&mut answers) % 3) as i8 - 1);
                seed += 1;
                items.sort_unstable();
                assert_eq!(items, (0..len).collect::<Vec<_>>());
            }
        }
    }
}
