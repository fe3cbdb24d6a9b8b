using System.Numerics;
using Netmem.Memory;
using Netmem.Skb;

namespace Netmem.Sockets;

/// <summary>
/// <c>sk_user_frags</c>: a socket's devmem tokens. A token is a small integer (from 1, reused lowest-first
/// after release) naming one net_iov the application holds; the table holds the one reference that keeps
/// it out of its page_pool (a pp reference, as the kernel's <c>pp_ref_count</c> increment). The arrays
/// grow on warm-up only, so a steady receive/release cycle allocates nothing. Adds come from the
/// connection's context, releases from the application's thread: a lock serializes them (the xarray lock),
/// taken once per read call (<see cref="EnterAdds"/>) and once per DONTNEED call, not once per frag.
/// </summary>
internal sealed class DevmemTokenTable
{
    private readonly Lock _lock = new();
    private Slot[] _slots = new Slot[64];  // index = token; Netmem null when free
    private ulong[] _freeBits = new ulong[1]; // bit t set: token t (below _next) is free
    private int _lowWord;                  // no free token below word _lowWord
    private int _freeCount;
    private int _next = 1;                 // tokens >= _next were never handed out
    private bool _closed;

    private struct Slot
    {
        public NetmemRef Netmem;
        public bool Pp;
    }

    /// <summary>Tokens held by the application now.</summary>
    public int Outstanding { get; private set; }

    /// <summary>
    /// Takes a reference on <paramref name="netmem"/> (a pp reference when <paramref name="ppRecycle"/> and
    /// a page_pool owns it) and returns its new token; 0 when the socket is closed.
    /// </summary>
    public uint Add(NetmemRef netmem, bool ppRecycle)
    {
        lock (_lock) return AddLocked(netmem, ppRecycle);
    }

    /// <summary>
    /// Takes the table's lock for a batch of <see cref="AddLocked"/> calls (one read call's frags); the
    /// caller ends it with <see cref="ExitAdds"/> on the same thread.
    /// </summary>
    public void EnterAdds() => _lock.Enter();

    /// <summary>Ends a batch begun with <see cref="EnterAdds"/>.</summary>
    public void ExitAdds() => _lock.Exit();

    /// <summary><see cref="Add"/> inside an <see cref="EnterAdds"/> batch.</summary>
    public uint AddLocked(NetmemRef netmem, bool ppRecycle)
    {
        if (_closed) return 0;
        int token;
        if (_freeCount > 0) token = TakeLowestFree();
        else
        {
            if (_next == _slots.Length) Grow();
            token = _next++;
        }
        new SkbFrag(netmem, 0, 0).Ref(ppRecycle);
        ref var s = ref _slots[token];
        s.Netmem = netmem;
        s.Pp = ppRecycle;
        Outstanding++;
        return (uint)token;
    }

    /// <summary>
    /// <c>sock_devmem_dontneed</c>: releases the tokens named by <paramref name="ranges"/>, looking at no
    /// more than <see cref="Devmem.MaxDontneedFrags"/> tokens in all; tokens this socket does not hold are
    /// skipped. Returns how many were freed.
    /// </summary>
    public int Release(ReadOnlySpan<DmabufToken> ranges)
    {
        int freed = 0, looked = 0;
        lock (_lock)
        {
            foreach (var r in ranges)
            {
                // The tokens of this range that are looked at (the call's limit) and can be held (below _next).
                ulong left = (ulong)(Devmem.MaxDontneedFrags - looked);
                ulong count = Math.Min(r.TokenCount, left);
                looked += (int)count;
                ulong start = r.TokenStart, end = start + count;
                if (start == 0) start = 1;
                if (end > (ulong)_next) end = (ulong)_next;
                for (ulong t = start; t < end; t++)
                    if (ReleaseOne((int)t)) freed++;
                if (looked >= Devmem.MaxDontneedFrags) break;
            }
        }
        return freed;
    }

    /// <summary>The socket closes: every token is released and no new one is handed out. Returns how many were held.</summary>
    public int Close()
    {
        int n = 0;
        lock (_lock)
        {
            _closed = true;
            for (int t = 1; t < _next; t++)
                if (ReleaseOne(t)) n++;
        }
        return n;
    }

    private bool ReleaseOne(int token)
    {
        ref var s = ref _slots[token];
        if (s.Netmem.IsNull) return false;
        new SkbFrag(s.Netmem, 0, 0).Unref(s.Pp);
        s = default;
        Outstanding--;
        _freeBits[token >> 6] |= 1UL << token;
        if ((token >> 6) < _lowWord) _lowWord = token >> 6;
        _freeCount++;
        return true;
    }

    // The lowest free token (xa_alloc's order): words below _lowWord have none.
    private int TakeLowestFree()
    {
        int w = _lowWord;
        while (_freeBits[w] == 0) w++;
        ulong bits = _freeBits[w];
        int token = (w << 6) + BitOperations.TrailingZeroCount(bits);
        _freeBits[w] = bits & (bits - 1);
        _lowWord = w;
        _freeCount--;
        return token;
    }

    private void Grow()
    {
        int n = _slots.Length * 2;
        Array.Resize(ref _slots, n);
        Array.Resize(ref _freeBits, n >> 6);
    }
}
