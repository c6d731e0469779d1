using Confiture.Core;
using Confiture.Core.Connections;

namespace Confiture.Tests.Unit.Engine;

/// <summary>
/// A connection string that does not parse usually holds a password nearby, often cut in two by
/// the very character that broke it: no part of the string may reach the error, its inner
/// exceptions, or anything PowerShell later prints from them ($Error, transcripts).
/// </summary>
public sealed class ConnectionStringSecretTests
{
    private const string Tail = "Zq7Tail";

    public static TheoryData<string> Malformed => new()
    {
        // An unquoted ';' in the password makes its tail a keyword.
        $"Host=db;Username=app;Password=Pa;ss{Tail}",
        $"Host=db;Username=app;Password=Pa;ss{Tail}=1",
        // An unterminated quote.
        $"Host=db;Username=app;Password='Pa ss{Tail}",
        $"Host=db;Username=app;Password=\"Pa ss{Tail}",
        // A value of the wrong type next to the password.
        $"Host=db;Password=Pass{Tail};Port=Pass{Tail}",
        $"Host=db;Password=Pass{Tail};Timeout=Pass{Tail}",
        $"Host=db;Password=Pass{Tail};SSL Mode=Pass{Tail}",
        $"Host=db;Password=Pass{Tail};Pooling=Pass{Tail}",
        // No '=' at all.
        $"Host=db;Pass{Tail}",
        // A URI whose user info lost its '@': the password reads as a port.
        $"postgresql://app:Pass{Tail}",
        $"postgresql://app:Pass{Tail}/db",
        // An unencoded '&' or '=' in a password given as a URI parameter.
        $"postgresql://db/shop?password=Pa&ss{Tail}",
        $"postgresql://db/shop?password=Pa&ss{Tail}=1",
        $"postgresql://db/shop?password=Pass&sslmode=Pa{Tail}",
        $"postgresql://db/shop?password=Pass&port=Pa{Tail}",
        $"postgresql://app@[::1:Pass{Tail}/shop",
    };

    [Theory]
    [MemberData(nameof(Malformed))]
    public void A_malformed_string_is_refused_without_echoing_any_part_of_it(string connectionString)
    {
        var error = Assert.Throws<ConfitureException>(() => DatabaseEndpoint.FromConnectionString(connectionString));

        Assert.Equal(ConfitureErrorKind.InvalidConnectionString, error.Kind);
        for (Exception? e = error; e is not null; e = e.InnerException)
        {
            foreach (var text in new[] { e.Message, e.ToString(), (e as ConfitureException)?.Target, (e as ConfitureException)?.RecommendedAction })
            {
                Assert.DoesNotContain(Tail, text ?? string.Empty, StringComparison.OrdinalIgnoreCase);
                Assert.DoesNotContain("Pass" + Tail[..3], text ?? string.Empty, StringComparison.OrdinalIgnoreCase);
            }
        }
    }

    [Fact]
    public void The_error_still_says_what_to_do()
    {
        var error = Assert.Throws<ConfitureException>(() => ConnectionStringParser.Parse($"Host=db;Username=app;Password=Pa;ss{Tail}"));

        Assert.Contains("quote", error.RecommendedAction, StringComparison.OrdinalIgnoreCase);
    }
}
