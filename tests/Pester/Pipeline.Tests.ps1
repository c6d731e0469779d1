BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    Import-Module (Get-ModuleManifestPath) -Force

    function New-BookshopTables {
        <# Three related source tables of different sizes, and the same three (empty) on the target unless left out. #>
        param([Parameter(Mandatory)] $Pair, [string[]] $SkipOnTarget = @())
        Invoke-TestSql -Side Source -Database $Pair.Database -Sql @'
CREATE TABLE authors (id integer PRIMARY KEY, name text NOT NULL);
INSERT INTO authors SELECT g, 'Author ' || g FROM generate_series(1, 20) g;
CREATE TABLE books (id integer PRIMARY KEY, author_id integer NOT NULL, title text NOT NULL, price numeric(8, 2));
INSERT INTO books SELECT g, g % 20 + 1, 'Book «' || g || '»', (g % 50) + 0.99 FROM generate_series(1, 500) g;
CREATE TABLE reviews (id bigint PRIMARY KEY, book_id integer NOT NULL, stars smallint, body text, written_at timestamptz);
INSERT INTO reviews SELECT g, g % 500 + 1, (g % 5 + 1)::smallint, CASE WHEN g % 9 = 0 THEN NULL ELSE 'review ' || g END,
       timestamptz '2023-06-01 12:00:00+00' + g * interval '17 minutes'
FROM generate_series(1, 1500) g;
'@ | Out-Null
        $ddl = @{
            authors = 'CREATE TABLE authors (id integer PRIMARY KEY, name text NOT NULL)'
            books   = 'CREATE TABLE books (id integer PRIMARY KEY, author_id integer NOT NULL, title text NOT NULL, price numeric(8, 2))'
            reviews = 'CREATE TABLE reviews (id bigint PRIMARY KEY, book_id integer NOT NULL, stars smallint, body text, written_at timestamptz)'
        }
        $sql = ($ddl.Keys | Where-Object { $_ -notin $SkipOnTarget } | ForEach-Object { $ddl[$_] }) -join ";`n"
        Invoke-TestSql -Side Target -Database $Pair.Database -AsMigrator -Sql $sql | Out-Null
    }

    $tableQueries = [ordered]@{
        authors = 'SELECT id, name FROM authors ORDER BY id'
        books   = 'SELECT id, author_id, title, price FROM books ORDER BY id'
        reviews = 'SELECT id, book_id, stars, body, written_at FROM reviews ORDER BY id'
    }
}

Describe 'A whole migration in one pipeline' -Tag IntegrationTests {
    BeforeAll {
        $pair = New-TestDatabasePair
        New-BookshopTables -Pair $pair
        $peer = Get-FdwAddressParameter $pair
        $src = Connect-ConfitureDatabase $pair.SourceMigrator
        $tgt = Connect-ConfitureDatabase $pair.TargetMigrator
        $m = Enable-ConfitureFdw -Source $src -Target $tgt @peer

        $verifications = @($m | Get-ConfitureStrategy -CopyThreshold 1000 | Invoke-ConfitureTableMigration -OutVariable results | Test-ConfitureMigration)
    }

    AfterAll {
        Remove-TestDatabasePair $pair
    }

    It 'migrates and verifies every table: $m | Get-ConfitureStrategy | Invoke-ConfitureTableMigration | Test-ConfitureMigration' {
        $verifications.Count | Should -Be 3
        $verifications.SourceTable | Sort-Object | Should -Be @('authors', 'books', 'reviews')
        $verifications | ForEach-Object { $_.Match | Should -BeTrue -Because "$($_.SourceTable) must match" }
        ($verifications | Measure-Object -Property TargetCount -Sum).Sum | Should -Be 2020
    }

    It 'copies every table of the run, whatever the size advice: only Copy reads the run''s one snapshot' {
        $strategies = @{}
        foreach ($result in $results) { $strategies[$result.SourceTable] = [string]$result.Strategy }

        $strategies['authors'] | Should -Be 'Copy'
        $strategies['books'] | Should -Be 'Copy'
        $strategies['reviews'] | Should -Be 'Copy'
        @($results.SourceSnapshotAt | Sort-Object -Unique).Count | Should -Be 1
    }

    It 'leaves identical rows in every target table' {
        foreach ($table in $tableQueries.Keys) {
            $expected = Get-TestSqlText -Side Source -Database $pair.Database -Sql $tableQueries[$table]
            Get-TestSqlText -Side Target -Database $pair.Database -Sql $tableQueries[$table] | Should -BeExactly $expected -Because "$table must hold the source's rows"
        }
    }

    It 'cleans up at the end with $m | Remove-ConfitureFdw' {
        $m | Remove-ConfitureFdw

        $state = Get-FdwCatalogState $pair
        $state.Servers | Should -Be 0
        $state.UserMappings | Should -Be 0
        $state.ForeignTables | Should -Be 0
        $state.ForeignSchemas | Should -Be 0
    }
}

Describe 'A pipeline over a source schema the session did not import' -Tag IntegrationTests {
    BeforeAll {
        $pair = New-TestDatabasePair
        New-BookshopTables -Pair $pair
        # The old application kept its data in schema "shop"; the session imports public (empty here).
        Invoke-TestSql -Side Source -Database $pair.Database -Sql @'
CREATE SCHEMA shop;
ALTER TABLE authors SET SCHEMA shop;
ALTER TABLE books SET SCHEMA shop;
ALTER TABLE reviews SET SCHEMA shop;
'@ | Out-Null
        $peer = Get-FdwAddressParameter $pair
        $m = Enable-ConfitureFdw -Source (Connect-ConfitureDatabase $pair.SourceMigrator) -Target (Connect-ConfitureDatabase $pair.TargetMigrator) @peer

        $verifications = @($m | Get-ConfitureStrategy -Schema shop -CopyThreshold 1000 |
                Invoke-ConfitureTableMigration -ErrorVariable failures -ErrorAction SilentlyContinue |
                Test-ConfitureMigration)
    }

    AfterAll {
        Remove-TestDatabasePair $pair
    }

    It 'migrates every table of -Schema without an error' {
        @($failures | ForEach-Object { "$($_.TargetObject): $($_.FullyQualifiedErrorId): $($_.Exception.Message)" }) | Should -BeNullOrEmpty
    }

    It 'verifies every table of -Schema' {
        $verifications.SourceTable | Sort-Object | Should -Be @('authors', 'books', 'reviews')
        $verifications | ForEach-Object { $_.Match | Should -BeTrue -Because "$($_.SourceTable) must match" }
        $verifications.SourceSchema | Select-Object -Unique | Should -Be 'shop'
    }
}

Describe 'A failing table in a pipeline' -Tag IntegrationTests {
    BeforeAll {
        $pair = New-TestDatabasePair
        New-BookshopTables -Pair $pair -SkipOnTarget books
        $peer = Get-FdwAddressParameter $pair
        $m = Enable-ConfitureFdw -Source (Connect-ConfitureDatabase $pair.SourceMigrator) -Target (Connect-ConfitureDatabase $pair.TargetMigrator) @peer

        $verifications = @($m | Get-ConfitureStrategy -CopyThreshold 1000 |
                Invoke-ConfitureTableMigration -ErrorVariable failures -ErrorAction SilentlyContinue |
                Test-ConfitureMigration)
    }

    AfterAll {
        Remove-TestDatabasePair $pair
    }

    It 'reports the failing table as one non-terminating error with its ErrorId' {
        $failures | Should -HaveCount 1
        $failures[0].FullyQualifiedErrorId | Should -BeLike 'Confiture.TableNotFound,*'
        $failures[0].CategoryInfo.Category | Should -Be 'ObjectNotFound'
        $failures[0].TargetObject | Should -Be 'books'
    }

    It 'migrates and verifies the other tables all the same' {
        $verifications.SourceTable | Sort-Object | Should -Be @('authors', 'reviews')
        $verifications | ForEach-Object { $_.Match | Should -BeTrue -Because "$($_.SourceTable) must match" }
        Get-TestSqlText -Side Target -Database $pair.Database -Sql $tableQueries['reviews'] |
            Should -BeExactly (Get-TestSqlText -Side Source -Database $pair.Database -Sql $tableQueries['reviews'])
    }
}

Describe 'Leaving -Migration out after Enable-ConfitureFdw' -Tag IntegrationTests {
    BeforeAll {
        $pair = New-TestDatabasePair
        New-BookshopTables -Pair $pair
        $peer = Get-FdwAddressParameter $pair
        $src = Connect-ConfitureDatabase $pair.SourceMigrator
        $tgt = Connect-ConfitureDatabase $pair.TargetMigrator
        # Two sessions in a row: the later one is "the last session".
        $earlier = Enable-ConfitureFdw -Source $src -Target $tgt -ServerName confiture_earlier -ForeignSchema earlier_schema @peer
        $last = Enable-ConfitureFdw -Source $src -Target $tgt @peer
    }

    AfterAll {
        Remove-TestDatabasePair $pair
    }

    It 'Get-ConfitureStrategy uses the last session' {
        $plans = @(Get-ConfitureStrategy)

        $plans.Count | Should -Be 3
        $plans | ForEach-Object { $_.Migration | Should -Be $last }
    }

    It 'Invoke-ConfitureTableMigration uses the last session' {
        $result = Invoke-ConfitureTableMigration -Table authors -Strategy Fdw

        $result.Migration | Should -Be $last
        $result.RowsMigrated | Should -Be 20
    }

    It 'Test-ConfitureMigration uses the last session' {
        $verification = Test-ConfitureMigration -Table authors

        $verification.Migration | Should -Be $last
        $verification.Match | Should -BeTrue
    }

    It 'Remove-ConfitureFdw removes the last session only' {
        Remove-ConfitureFdw

        (Get-FdwCatalogState $pair).NamedServers | Should -Be 0
        (Get-FdwCatalogState $pair -ServerName confiture_earlier -ForeignSchema earlier_schema).NamedServers | Should -Be 1
        $earlier | Remove-ConfitureFdw
        (Get-FdwCatalogState $pair).Servers | Should -Be 0
    }
}

Describe 'Cmdlets without any session' -Tag IntegrationTests {
    It '<Command> fails with Confiture.NoSession in a runspace where Enable-ConfitureFdw never ran' -ForEach @(
        @{ Command = 'Get-ConfitureStrategy'; Arguments = @{} }
        @{ Command = 'Invoke-ConfitureTableMigration'; Arguments = @{ Table = 'users' } }
        @{ Command = 'Test-ConfitureMigration'; Arguments = @{ Table = 'users' } }
        @{ Command = 'Remove-ConfitureFdw'; Arguments = @{} }
        @{ Command = 'Test-ConfitureCutover'; Arguments = @{} }
    ) {
        $failure = Invoke-InNewRunspace -Parameters @{ Command = $Command; Arguments = $Arguments } {
            param($Command, $Arguments)
            try { & $Command @Arguments -ErrorAction Stop } catch { $_ }
        }

        @($failure).Count | Should -Be 1
        $failure[0].FullyQualifiedErrorId | Should -BeLike 'Confiture.NoSession,*'
    }
}
