using System.Buffers.Binary;
using Confiture.Core.Migration;

namespace Confiture.Tests.Unit.Engine;

public sealed class CopyRowCounterTests
{
    [Fact]
    public void Binary_rows_are_counted_however_the_stream_is_cut()
    {
        var stream = BinaryCopy(rows: 7, fields: [4, -1, 0, 300, 8]);

        for (var chunk = 1; chunk <= 40; chunk++)
        {
            var counter = new CopyRowCounter(binary: true);
            for (var offset = 0; offset < stream.Length; offset += chunk)
            {
                counter.Feed(stream.AsSpan(offset, Math.Min(chunk, stream.Length - offset)));
            }

            Assert.Equal(7, counter.Rows);
        }
    }

    [Fact]
    public void A_header_extension_is_skipped_and_the_trailer_ends_counting()
    {
        var stream = BinaryCopy(rows: 2, fields: [3], extension: 10);
        var counter = new CopyRowCounter(binary: true);

        counter.Feed(stream);
        counter.Feed(new byte[] { 0, 1, 0, 0, 0, 0 });

        Assert.Equal(2, counter.Rows);
    }

    [Fact]
    public void Text_rows_are_counted_by_line_ends()
    {
        var counter = new CopyRowCounter(binary: false);
        counter.Feed("1\ta\\nb\n2\tc\n"u8);
        counter.Feed("3\t\\N\n"u8);

        Assert.Equal(3, counter.Rows);
    }

    private static byte[] BinaryCopy(int rows, int[] fields, int extension = 0)
    {
        var output = new List<byte>();
        output.AddRange("PGCOPY\n"u8.ToArray());
        output.AddRange(new byte[] { 0xff, (byte)'\r', (byte)'\n', 0 });
        output.AddRange(Int32(0));
        output.AddRange(Int32(extension));
        output.AddRange(new byte[extension]);
        for (var row = 0; row < rows; row++)
        {
            output.AddRange(Int16((short)fields.Length));
            foreach (var length in fields)
            {
                output.AddRange(Int32(length));
                output.AddRange(new byte[Math.Max(length, 0)].Select((_, i) => (byte)(i * 31 + row)));
            }
        }

        output.AddRange(Int16(-1));
        return [.. output];
    }

    private static byte[] Int32(int value)
    {
        var bytes = new byte[4];
        BinaryPrimitives.WriteInt32BigEndian(bytes, value);
        return bytes;
    }

    private static byte[] Int16(short value)
    {
        var bytes = new byte[2];
        BinaryPrimitives.WriteInt16BigEndian(bytes, value);
        return bytes;
    }
}
