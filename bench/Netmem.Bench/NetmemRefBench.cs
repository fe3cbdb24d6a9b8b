using BenchmarkDotNet.Attributes;
using Netmem.Memory;

namespace Netmem.Bench;

/// <summary>The netmem_ref hot helpers: kind test plus checked conversion, and IOMMU translation.</summary>
[MemoryDiagnoser]
public unsafe class NetmemRefBench
{
    private PageArena _arena = null!;
    private DeviceMemory _hbm = null!;
    private NetIovArea _area = null!;
    private DmaDevice _dev = null!;
    private NetmemRef _page, _niov;
    private ulong _iova;

    [GlobalSetup]
    public void Setup()
    {
        _arena = new PageArena(new PageArenaOptions { PageCount = 64 });
        _hbm = new DeviceMemory(16 * PageArena.PageSize);
        _area = NetIovArea.Create(NetIovType.Dmabuf, _hbm, 0, 16);
        _dev = new DmaDevice("bench");
        _page = _arena.AllocPages();
        _niov = _area[5];
        _iova = _dev.MapPage(_page, 0, PageArena.PageSize, DmaDirection.FromDevice);
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _dev.UnmapPage(_iova, PageArena.PageSize, DmaDirection.FromDevice);
        _page.Put();
        _dev.Dispose();
        _area.Dispose();
        _hbm.Dispose();
        _arena.Dispose();
    }

    /// <summary>netmem_is_net_iov + the checked conversion to the right descriptor.</summary>
    [Benchmark]
    public nint KindTestAndConvert()
    {
        var n = _page;
        return n.IsNetIov ? (nint)n.ToNetIov() : (nint)n.ToPage();
    }

    /// <summary>netmem_address: a kind test plus one load.</summary>
    [Benchmark]
    public nint Address() => _page.Address;

    /// <summary>net_iov_idx through the owner pointer.</summary>
    [Benchmark]
    public int NetIovIndex() => _niov.NetIovIndex;

    /// <summary>One IOVA -> host translation with permission and byte-range checks.</summary>
    [Benchmark]
    public nint IommuTranslate() => _dev.Translate(_iova + 128, 1024, write: true);
}
