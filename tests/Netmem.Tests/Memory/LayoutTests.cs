using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Netmem.Memory;

namespace Netmem.Tests.Memory;

/// <summary>The kernel's NETMEM_DESC_ASSERT_OFFSET / NET_IOV_ASSERT_OFFSET checks, at test time.</summary>
public class LayoutTests
{
    [Theory]
    [InlineData(nameof(NetmemDesc.Flags), 0)]
    [InlineData(nameof(NetmemDesc.PpMagic), 8)]
    [InlineData(nameof(NetmemDesc.Pp), 16)]
    [InlineData(nameof(NetmemDesc.PpMappingPad), 24)]
    [InlineData(nameof(NetmemDesc.DmaAddr), 32)]
    [InlineData(nameof(NetmemDesc.PpRefCount), 40)]
    public void NetmemDesc_fields_sit_at_the_struct_page_offsets(string field, int offset) =>
        Assert.Equal(offset, (int)Marshal.OffsetOf<NetmemDesc>(field));

    [Fact]
    public unsafe void Descriptor_sizes_match_the_kernel()
    {
        Assert.Equal(48, sizeof(NetmemDesc));
        Assert.Equal(64, sizeof(PageDesc));   // struct page on x86-64
        Assert.Equal(64, sizeof(NetIovDesc));
        Assert.Equal(48, Unsafe.SizeOf<NetmemDesc>());
    }

    [Theory]
    [InlineData(nameof(PageDesc.Desc), 0)]
    [InlineData(nameof(PageDesc.MapCount), 48)]
    [InlineData(nameof(PageDesc.RefCount), 52)]
    [InlineData(nameof(PageDesc.Virtual), 56)]
    public void PageDesc_offsets(string field, int offset) =>
        Assert.Equal(offset, (int)Marshal.OffsetOf<PageDesc>(field));

    [Theory]
    [InlineData(nameof(NetIovDesc.Desc), 0)]
    [InlineData(nameof(NetIovDesc.Owner), 48)]
    [InlineData(nameof(NetIovDesc.Type), 56)]
    public void NetIovDesc_offsets(string field, int offset) =>
        Assert.Equal(offset, (int)Marshal.OffsetOf<NetIovDesc>(field));

    [Theory]
    [InlineData(nameof(NetIovAreaDesc.Niovs), 0)]
    [InlineData(nameof(NetIovAreaDesc.NumNiovs), 8)]
    [InlineData(nameof(NetIovAreaDesc.BaseVirtual), 16)]
    public void NetIovAreaDesc_offsets(string field, int offset) =>
        Assert.Equal(offset, (int)Marshal.OffsetOf<NetIovAreaDesc>(field));

    [Fact]
    public void NetmemRef_is_one_native_word() => Assert.Equal(IntPtr.Size, Unsafe.SizeOf<NetmemRef>());

    [Fact]
    public void NetIovType_values_match_the_kernel()
    {
        Assert.Equal(0, (long)NetIovType.Dmabuf);
        Assert.Equal(1, (long)NetIovType.IoUring);
        Assert.Equal(8, Unsafe.SizeOf<NetIovType>()); // forced to unsigned long in the kernel
    }

    [Fact]
    public void DmaDirection_values_match_the_kernel()
    {
        Assert.Equal(0, (int)DmaDirection.Bidirectional);
        Assert.Equal(1, (int)DmaDirection.ToDevice);
        Assert.Equal(2, (int)DmaDirection.FromDevice);
        Assert.Equal(3, (int)DmaDirection.None);
    }
}
