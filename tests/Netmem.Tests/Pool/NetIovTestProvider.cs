using Netmem.Memory;
using Netmem.Pool;

namespace Netmem.Tests.Pool;

/// <summary>A minimal devmem-like provider over one net_iov area, for testing the provider interface.</summary>
internal sealed class NetIovTestProvider(NetIovArea area) : IMemoryProvider
{
    private readonly Stack<int> _free = new(Enumerable.Range(0, area.Count).Reverse());
    public Errno InitResult { get; init; } = Errno.None;
    public int Inits, Destroys, Releases, Uninstalls;
    public bool ManagesDma => true;
    public int FreeCount => _free.Count;

    public Errno Init(PagePool pool) { Inits++; return InitResult; }

    public int AllocNetmems(PagePool pool, Span<NetmemRef> netmems)
    {
        int n = 0;
        lock (_free)
            while (n < netmems.Length && _free.Count > 0)
            {
                var niov = area[_free.Pop()];
                niov.SetDmaAddr(0x4000_0000ul + (ulong)niov.NetIovIndex * PageArena.PageSize);
                netmems[n++] = niov;
            }
        return n;
    }

    public bool ReleaseNetmem(PagePool pool, NetmemRef netmem)
    {
        Releases++;
        Assert.True(area.Owns(netmem));
        PagePool.ClearPpInfo(netmem);
        lock (_free) _free.Push(netmem.NetIovIndex);
        return false; // the provider keeps it
    }

    public void Destroy(PagePool pool) => Destroys++;
    public PagePoolInfo Fill(PagePoolInfo info) => info with { Dmabuf = 7 };
    public void Uninstall(int queueIndex) => Uninstalls++;
}

