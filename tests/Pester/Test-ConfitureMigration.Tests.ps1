BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    Import-Module (Get-ModuleManifestPath) -Force
}

Describe 'Test-ConfitureMigration parameters' -Tag UnitTests {
    It 'has every parameter the design documents' {
        $documented = @('Migration', 'Quiet', 'SourceSchema', 'Table', 'TargetSchema', 'TargetTable')
        $documented | Where-Object { $_ -notin (Get-CommandParameterName Test-ConfitureMigration) } | Should -BeNullOrEmpty -Because 'these documented parameters are missing'
    }

    It 'binds Invoke-ConfitureTableMigration''s results by property name' {
        $parameters = (Get-Command Test-ConfitureMigration).Parameters
        foreach ($name in 'Migration', 'Table', 'TargetTable', 'SourceSchema', 'TargetSchema') {
            $parameters[$name].Attributes.Where({ $_ -is [Parameter] }).ValueFromPipelineByPropertyName | Should -Contain $true -Because "-$name binds by property name"
        }
        $parameters['Table'].Aliases | Should -Contain 'SourceTable'
    }

    It 'declares both of its outputs: verifications, or one boolean with -Quiet' {
        (Get-Command Test-ConfitureMigration).OutputType.Type | Should -Contain ([Confiture.PowerShell.Types.ConfitureVerification])
        (Get-Command Test-ConfitureMigration).OutputType.Type | Should -Contain ([bool])
    }
}

Describe 'Test-ConfitureMigration' -Tag IntegrationTests {
    BeforeAll {
        $pair = New-TestDatabasePair
        New-UsersTables -Pair $pair -Rows 120
        Invoke-TestSql -Side Target -Database $pair.Database -AsMigrator -Sql 'CREATE TABLE users_partial (id integer PRIMARY KEY, display_name text NOT NULL, email text)' | Out-Null
        Invoke-TestSql -Side Source -Database $pair.Database -Sql @'
CREATE TABLE customers (id integer PRIMARY KEY, name text);
INSERT INTO customers SELECT g, 'customer ' || g FROM generate_series(1, 45) g;
'@ | Out-Null
        Invoke-TestSql -Side Target -Database $pair.Database -AsMigrator -Sql 'CREATE TABLE clients (id integer PRIMARY KEY, name text)' | Out-Null
        $peer = Get-FdwAddressParameter $pair
        $migration = Enable-ConfitureFdw -Source (Connect-ConfitureDatabase $pair.SourceMigrator) -Target (Connect-ConfitureDatabase $pair.TargetMigrator) -Table users @peer
        $rename = [ordered]@{ id = 'id'; full_name = 'display_name'; email = 'email' }
        $usersResult = Invoke-ConfitureTableMigration -Migration $migration -Table users -ColumnMapping $rename -Strategy Fdw
        Invoke-ConfitureTableMigration -Migration $migration -Table users -TargetTable users_partial -ColumnMapping $rename -Strategy Copy | Out-Null
        $clientsResult = Invoke-ConfitureTableMigration -Migration $migration -Table customers -TargetTable clients -Strategy Copy
        Invoke-TestSql -Side Target -Database $pair.Database -Sql 'DELETE FROM users_partial WHERE id IN (3, 4, 5)' | Out-Null
        # Verification reads each server directly: with the foreign tables gone, it must still work.
        $migration | Remove-ConfitureFdw
    }

    AfterAll {
        Remove-TestDatabasePair $pair
    }

    It 'counts on each server directly, not through the foreign tables (they are gone)' {
        (Get-FdwCatalogState $pair).ForeignTables | Should -Be 0

        $verification = Test-ConfitureMigration -Migration $migration -Table users

        $verification | Should -BeOfType ([Confiture.PowerShell.Types.ConfitureVerification])
        $verification.SourceCount | Should -Be 120
        $verification.TargetCount | Should -Be 120
    }

    It 'reports Match and no difference when the counts agree' {
        $verification = Test-ConfitureMigration -Migration $migration -Table users

        $verification.SourceTable | Should -Be 'users'
        $verification.TargetTable | Should -Be 'users'
        $verification.SourceSchema | Should -Be 'public'
        $verification.TargetSchema | Should -Be 'public'
        $verification.Match | Should -BeTrue
        $verification.Difference | Should -Be 0
    }

    It 'compares a renamed target table with -TargetTable' {
        $verification = Test-ConfitureMigration -Migration $migration -Table customers -TargetTable clients

        $verification.SourceTable | Should -Be 'customers'
        $verification.TargetTable | Should -Be 'clients'
        $verification.SourceCount | Should -Be 45
        $verification.TargetCount | Should -Be 45
        $verification.Match | Should -BeTrue
    }

    It 'takes the renamed target from a piped migration result' {
        $verification = $clientsResult | Test-ConfitureMigration

        $verification.TargetTable | Should -Be 'clients'
        $verification.Match | Should -BeTrue
    }

    It 'reports rows missing on the target: Match false, Difference negative' {
        $verification = Test-ConfitureMigration -Migration $migration -Table users -TargetTable users_partial

        $verification.SourceCount | Should -Be 120
        $verification.TargetCount | Should -Be 117
        $verification.Match | Should -BeFalse
        $verification.Difference | Should -Be -3
    }

    It 'returns one $false with -Quiet when rows are missing' {
        $answer = @(Test-ConfitureMigration -Migration $migration -Table users -TargetTable users_partial -Quiet)

        $answer.Count | Should -Be 1
        $answer[0] | Should -BeOfType ([bool])
        $answer[0] | Should -BeFalse
    }

    It 'returns one $true with -Quiet when every piped table matches' {
        $answer = @($usersResult, $clientsResult | Test-ConfitureMigration -Quiet)

        $answer.Count | Should -Be 1
        $answer[0] | Should -BeTrue
    }

    It 'returns one $false with -Quiet when any piped table does not match' {
        $damaged = [pscustomobject]@{ SourceTable = 'users'; TargetTable = 'users_partial'; Migration = $migration }

        $answer = @($usersResult, $damaged, $clientsResult | Test-ConfitureMigration -Quiet)

        $answer.Count | Should -Be 1
        $answer[0] | Should -BeFalse
    }

    It 'checks every table the session imported when -Table is left out' {
        $verifications = @(Test-ConfitureMigration -Migration $migration)

        $verifications.SourceTable | Should -Be @('users')
        $verifications[0].Match | Should -BeTrue
    }

    It 'finds the target table the session migrated a source table into when -TargetTable is left out' {
        $verification = Test-ConfitureMigration -Migration $migration -Table customers

        $verification.TargetTable | Should -Be 'clients'
        $verification.Match | Should -BeTrue
    }

    It 'reports a missing target table as a non-terminating Confiture.TableNotFound, and -Quiet says $false' {
        $answer = Test-ConfitureMigration -Migration $migration -Table customers -TargetTable customers -Quiet -ErrorVariable failures -ErrorAction SilentlyContinue

        $failures | Should -HaveCount 1
        $failures[0].FullyQualifiedErrorId | Should -BeLike 'Confiture.TableNotFound,*'
        $failures[0].TargetObject | Should -Be 'customers'
        $answer | Should -BeFalse
    }

    It 'refuses -TargetTable with more than one -Table (Confiture.InvalidArgument)' {
        { Test-ConfitureMigration -Migration $migration -Table users, customers -TargetTable clients } | Should -Throw -ErrorId 'Confiture.InvalidArgument,*'
    }
}
