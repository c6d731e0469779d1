using System.Buffers.Binary;

namespace Confiture.Core.Migration;

/// <summary>
/// Counts rows in a COPY stream as it passes, without decoding a value: in binary format by walking
/// the tuple and field lengths, in text format by counting line ends (COPY escapes newlines in data).
/// See https://www.postgresql.org/docs/current/sql-copy.html#id-1.9.3.55.9.4.
/// </summary>
internal sealed class CopyRowCounter(bool binary)
{
    private const int SignatureLength = 11;

    private enum State
    {
        Signature,
        Flags,
        ExtensionLength,
        Extension,
        FieldCount,
        FieldLength,
        FieldData,
        Done,
    }

    private readonly byte[] _scratch = new byte[4];
    private State _state = binary ? State.Signature : State.Done;
    private int _need = SignatureLength;
    private int _have;
    private long _skip;
    private int _fieldsLeft;

    public long Rows { get; private set; }

    /// <summary>Counts the rows of a text-format chunk.</summary>
    public void FeedText(ReadOnlySpan<char> data) => Rows += data.Count('\n');

    public void Feed(ReadOnlySpan<byte> data)
    {
        if (!binary)
        {
            Rows += data.Count((byte)'\n');
            return;
        }

        while (!data.IsEmpty && _state != State.Done)
        {
            if (_skip > 0)
            {
                var step = (int)Math.Min(_skip, data.Length);
                data = data[step..];
                _skip -= step;
                if (_skip == 0)
                {
                    AfterSkip();
                }

                continue;
            }

            var take = Math.Min(_need - _have, data.Length);
            if (_state != State.Signature)
            {
                data[..take].CopyTo(_scratch.AsSpan(_have));
            }

            _have += take;
            data = data[take..];
            if (_have == _need)
            {
                _have = 0;
                Advance();
            }
        }
    }

    private void Advance()
    {
        switch (_state)
        {
            case State.Signature:
                Expect(State.Flags, 4);
                break;
            case State.Flags:
                Expect(State.ExtensionLength, 4);
                break;
            case State.ExtensionLength:
                _skip = BinaryPrimitives.ReadUInt32BigEndian(_scratch);
                _state = State.Extension;
                if (_skip == 0)
                {
                    AfterSkip();
                }

                break;
            case State.FieldCount:
                var fields = BinaryPrimitives.ReadInt16BigEndian(_scratch);
                if (fields < 0)
                {
                    _state = State.Done;
                    break;
                }

                Rows++;
                _fieldsLeft = fields;
                NextField();
                break;
            case State.FieldLength:
                var length = BinaryPrimitives.ReadInt32BigEndian(_scratch);
                _fieldsLeft--;
                if (length > 0)
                {
                    _skip = length;
                    _state = State.FieldData;
                }
                else
                {
                    NextField();
                }

                break;
        }
    }

    private void AfterSkip()
    {
        if (_state == State.Extension)
        {
            Expect(State.FieldCount, 2);
        }
        else
        {
            NextField();
        }
    }

    private void NextField()
    {
        if (_fieldsLeft > 0)
        {
            Expect(State.FieldLength, 4);
        }
        else
        {
            Expect(State.FieldCount, 2);
        }
    }

    private void Expect(State state, int bytes)
    {
        _state = state;
        _need = bytes;
        _have = 0;
    }
}
