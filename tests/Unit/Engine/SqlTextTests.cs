using Confiture.Core;
using Confiture.Core.Sql;

namespace Confiture.Tests.Unit.Engine;

public sealed class SqlTextTests
{
    [Theory]
    [InlineData("users", "\"users\"")]
    [InlineData("Mixed Case", "\"Mixed Case\"")]
    [InlineData("users\"; drop table x;--", "\"users\"\"; drop table x;--\"")]
    [InlineData("select", "\"select\"")]
    public void Identifiers_are_always_quoted_and_inner_quotes_doubled(string name, string expected) =>
        Assert.Equal(expected, SqlText.Identifier(name));

    [Theory]
    [InlineData("plain", "'plain'")]
    [InlineData("it's", "'it''s'")]
    [InlineData(@"back\slash'; --", @"E'back\\slash''; --'")]
    public void Literals_double_quotes_and_escape_backslashes(string value, string expected) =>
        Assert.Equal(expected, SqlText.Literal(value));

    [Fact]
    public void A_nul_character_is_refused_with_a_clear_error()
    {
        var error = Assert.Throws<ConfitureException>(() => SqlText.Identifier("a\0b"));
        Assert.Equal(ConfitureErrorKind.InvalidArgument, error.Kind);
        Assert.Contains("NUL", error.Message, StringComparison.Ordinal);
    }
}
