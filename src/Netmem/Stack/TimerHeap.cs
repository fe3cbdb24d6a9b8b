namespace Netmem.Stack;

/// <summary>
/// The timers of one <see cref="StackContext"/>: a binary min-heap on (deadline, arming order) with each
/// timer's index kept in the timer, so arm, re-arm and cancel are O(log n) and allocate nothing once the
/// array has grown. Equal deadlines fire in arming order, which keeps deterministic runs repeatable.
/// Single-threaded: only the owning context touches it.
/// </summary>
public sealed class TimerHeap
{
    private StackTimer[] _heap = new StackTimer[64];
    private int _count;
    private long _sequence;

    public int Count => _count;

    /// <summary>Deadline of the earliest timer, or <see cref="long.MaxValue"/> when none is armed.</summary>
    public long NextDueUs => _count == 0 ? long.MaxValue : _heap[0].Due;

    /// <summary><c>mod_timer</c>: arms <paramref name="timer"/> for <paramref name="dueUs"/>, moving it if already armed.</summary>
    public void Arm(StackTimer timer, long dueUs)
    {
        if (timer.HeapIndex >= 0)
        {
            long old = timer.Due;
            timer.Due = dueUs;
            timer.Sequence = ++_sequence;
            if (dueUs < old) SiftUp(timer.HeapIndex); else SiftDown(timer.HeapIndex);
            return;
        }
        if (_count == _heap.Length) Array.Resize(ref _heap, _heap.Length * 2);
        timer.Due = dueUs;
        timer.Sequence = ++_sequence;
        timer.HeapIndex = _count;
        _heap[_count++] = timer;
        SiftUp(timer.HeapIndex);
    }

    /// <summary><c>del_timer</c>: returns whether it was armed.</summary>
    public bool Cancel(StackTimer timer)
    {
        int i = timer.HeapIndex;
        if (i < 0) return false;
        RemoveAt(i);
        return true;
    }

    /// <summary>Fires every timer due at or before <paramref name="nowUs"/> (at most <paramref name="max"/>); returns how many fired.</summary>
    public int RunExpired(long nowUs, int max = int.MaxValue)
    {
        int fired = 0;
        while (_count > 0 && fired < max && _heap[0].Due <= nowUs)
        {
            var t = _heap[0];
            RemoveAt(0);
            fired++;
            t.Target.OnTimer(t, t.Kind, nowUs); // may re-arm t or others
        }
        return fired;
    }

    private void RemoveAt(int i)
    {
        var t = _heap[i];
        t.HeapIndex = -1;
        int last = --_count;
        if (i != last)
        {
            var moved = _heap[last];
            _heap[i] = moved;
            moved.HeapIndex = i;
            _heap[last] = null!;
            SiftDown(i);
            SiftUp(moved.HeapIndex);
        }
        else _heap[last] = null!;
    }

    private static bool Less(StackTimer a, StackTimer b) => a.Due < b.Due || (a.Due == b.Due && a.Sequence < b.Sequence);

    private void SiftUp(int i)
    {
        var t = _heap[i];
        while (i > 0)
        {
            int p = (i - 1) >> 1;
            if (!Less(t, _heap[p])) break;
            _heap[i] = _heap[p];
            _heap[i].HeapIndex = i;
            i = p;
        }
        _heap[i] = t;
        t.HeapIndex = i;
    }

    private void SiftDown(int i)
    {
        var t = _heap[i];
        while (true)
        {
            int c = 2 * i + 1;
            if (c >= _count) break;
            if (c + 1 < _count && Less(_heap[c + 1], _heap[c])) c++;
            if (!Less(_heap[c], t)) break;
            _heap[i] = _heap[c];
            _heap[i].HeapIndex = i;
            i = c;
        }
        _heap[i] = t;
        t.HeapIndex = i;
    }
}
